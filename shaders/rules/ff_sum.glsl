/*{
  "DESCRIPTION": "feature-feedback rule 3: new = tanh(down + up - 1); state = mix(new, state, tblur).",
  "INPUTS": [
    {"NAME": "tblur", "TYPE": "float", "DEFAULT": 0.5, "MIN": 0.0, "MAX": 0.99, "LABEL": "temporal blur", "HELP": "How much of the previous state survives each step."}
  ]
}*/
#include "lib/mix_main.glsl"

vec4 rule(Cell c) {
    vec4 next = tanh(c.down + c.up - 1.0);
    return mix(next, c.state, tblur);
}
