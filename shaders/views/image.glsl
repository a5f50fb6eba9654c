// Draws an image texture into the viewport: kind 0 shows a.rgb, kind 1 the error |a - b| * gain.
uniform sampler2D a_tex;
uniform sampler2D b_tex;
uniform int kind;
uniform float gain;

in vec2 uv;
out vec4 frag;

void main() {
    vec2 p = vec2(uv.x, 1.0 - uv.y);   // texel rows run top to bottom
    vec3 a = texture(a_tex, p).rgb;
    vec3 c = kind == 0 ? a : clamp(abs(a - texture(b_tex, p).rgb) * gain, 0.0, 1.0);
    frag = vec4(c, 1.0);
}
