// Builds the network's input for this step: the source frame mixed with the last prediction
// (dream), the prediction moved by the feedback transform, input noise, and the occluder.
// Texel rows run top to bottom, as in the source frames.
#include "lib/noise.glsl"

uniform sampler2D source_tex;
uniform sampler2D prediction_tex;
uniform vec2 size;
uniform float dream;
uniform float input_noise;
uniform int occluder_mode;     // 0 off, 1 blind spot, 2 inverse spot
uniform int occluder_shape;    // 0 disc, 1 square
uniform int occluder_fill;     // 0 gray, 1 noise, 2 prediction
uniform vec2 occluder_center;  // 0…1, y down
uniform float occluder_size;
uniform mat2 feedback_matrix;  // inverse rotation / zoom applied around the centre
uniform vec2 feedback_shift;
uniform bool feedback_moves;
uniform int step_index;

out vec4 frag;

vec3 fed_back_prediction(ivec2 t) {
    if (!feedback_moves) return texelFetch(prediction_tex, t, 0).rgb;
    vec2 p = (vec2(t) + 0.5) / size - 0.5;
    vec2 q = feedback_matrix * p + 0.5 - feedback_shift;
    return texture(prediction_tex, q).rgb;
}

bool inside_occluder(ivec2 t) {
    vec2 d = (vec2(t) + 0.5) / size - occluder_center;
    float r = 0.5 * occluder_size;
    return occluder_shape == 0 ? dot(d, d) <= r * r : max(abs(d.x), abs(d.y)) <= r;
}

void main() {
    ivec2 t = ivec2(gl_FragCoord.xy);
    vec3 source = texelFetch(source_tex, t, 0).rgb;
    vec3 prediction = fed_back_prediction(t);
    vec3 x = mix(source, prediction, dream);
    if (input_noise > 0.0) x += input_noise * (2.0 * uniform4(t, step_index).rgb - 1.0);
    if (occluder_mode != 0 && (inside_occluder(t) == (occluder_mode == 1))) {
        if (occluder_fill == 0) x = vec3(0.5);
        else if (occluder_fill == 1) x = uniform4(t, step_index + 7919).rgb;
        else x = prediction;
    }
    frag = vec4(clamp(x, 0.0, 1.0), 1.0);
}
