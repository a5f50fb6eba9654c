/*{
  "DESCRIPTION": "Weighted sum of the state, its bottom-up and its top-down drive per layer, plus noise, squashed, then blended with the previous state by the persistence.",
  "INPUTS": [
    {"NAME": "gain_self", "TYPE": "float", "DEFAULT": 0.0, "MIN": -1.0, "MAX": 2.0, "PER_LAYER": true, "LABEL": "self", "PASS": 0.0, "HELP": "Weight of the layer's own previous state."},
    {"NAME": "gain_up", "TYPE": "float", "DEFAULT": 0.5, "MIN": -1.0, "MAX": 2.0, "PER_LAYER": true, "LABEL": "bottom-up", "ROLE": "bottom-up gain", "PASS": 1.0, "HELP": "Weight of the encoding of the layer below (0 = lesion)."},
    {"NAME": "gain_down", "TYPE": "float", "DEFAULT": 0.5, "MIN": -1.0, "MAX": 2.0, "PER_LAYER": true, "LABEL": "top-down", "ROLE": "top-down gain", "PASS": 0.0, "HELP": "Weight of the decoding of the layer above (0 = lesion)."},
    {"NAME": "persistence", "TYPE": "float", "DEFAULT": 0.0, "MIN": 0.0, "MAX": 0.99, "PER_LAYER": true, "LABEL": "persistence", "PASS": 0.0, "HELP": "How much of the previous state survives each step (temporal smoothing)."},
    {"NAME": "noise", "TYPE": "float", "DEFAULT": 0.0, "MIN": 0.0, "MAX": 1.0, "PER_LAYER": true, "LABEL": "noise", "PASS": 0.0, "HELP": "Standard deviation of Gaussian noise added before squashing."},
    {"NAME": "squash", "TYPE": "long", "DEFAULT": 1, "LABELS": ["none", "clamp", "tanh"], "LABEL": "squash", "PASS": ["none", "clamp"], "HELP": "Bound on the new state: none, clamp to [-1, 1], or tanh."}
  ]
}*/
#include "lib/mix_main.glsl"

vec4 rule(Cell c) {
    int l = c.layer;
    vec4 a = gain_self[l] * c.state + gain_up[l] * c.up + gain_down[l] * c.down;
    if (noise[l] > 0.0) a += noise[l] * noise4();
    vec4 next = squash == 1 ? clamp(a, -1.0, 1.0) : (squash == 2 ? tanh(a) : a);
    return mix(next, c.state, persistence[l]);
}
