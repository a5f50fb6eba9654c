/*{
  "DESCRIPTION": "feature-feedback rule 2: new = 0.5 + 0.5 * tanh(A(up) - A(down)) with A a 5-point average; state = mix(new, state, tblur).",
  "INPUTS": [
    {"NAME": "tblur", "TYPE": "float", "DEFAULT": 0.5, "MIN": 0.0, "MAX": 0.99, "LABEL": "temporal blur", "HELP": "How much of the previous state survives each step."},
    {"NAME": "torus", "TYPE": "bool", "DEFAULT": true, "LABEL": "wrap edges", "HELP": "Averages wrap around the edges (torus) instead of clamping."}
  ]
}*/
#include "lib/mix_main.glsl"

vec4 rule(Cell c) {
    vec4 next = 0.5 + 0.5 * tanh(BLUR5(fetch_up, torus) - BLUR5(fetch_down, torus));
    return mix(next, c.state, tblur);
}
