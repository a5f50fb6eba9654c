/*{
  "DESCRIPTION": "feature-feedback rule 1: new = tanh(fb * (B(up) + B(down)) / 2) with B a 5-point blur; state = mix(new, state, tblur).",
  "INPUTS": [
    {"NAME": "fb", "TYPE": "float", "DEFAULT": 1.333, "MIN": 0.0, "MAX": 4.0, "LABEL": "feedback", "HELP": "Gain on the blurred sum of the drives."},
    {"NAME": "tblur", "TYPE": "float", "DEFAULT": 0.5, "MIN": 0.0, "MAX": 0.99, "LABEL": "temporal blur", "HELP": "How much of the previous state survives each step."},
    {"NAME": "torus", "TYPE": "bool", "DEFAULT": true, "LABEL": "wrap edges", "HELP": "Blur wraps around the edges (torus) instead of clamping."}
  ]
}*/
#include "lib/mix_main.glsl"

vec4 rule(Cell c) {
    vec4 next = tanh(fb * (BLUR5(fetch_up, torus) + BLUR5(fetch_down, torus)) * 0.5);
    return mix(next, c.state, tblur);
}
