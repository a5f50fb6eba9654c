// Deterministic per-texel, per-step random numbers (PCG hash), so headless renders repeat exactly.
uint pcg(uint v) {
    uint state = v * 747796405u + 2891336453u;
    uint word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in [0, 1) for texel p at step s, stream k.
float uniform01(ivec2 p, int s, int k) {
    uint h = pcg(uint(p.x) ^ pcg(uint(p.y) ^ pcg(uint(s) * 4u + uint(k))));
    return float(h >> 8u) / 16777216.0;
}

vec4 uniform4(ivec2 p, int s) {
    return vec4(uniform01(p, s, 0), uniform01(p, s, 1), uniform01(p, s, 2), uniform01(p, s, 3));
}

// Standard normal (Box–Muller), four independent values.
vec4 gaussian4(ivec2 p, int s) {
    vec4 u = uniform4(p, s);
    vec2 r = sqrt(-2.0 * log(max(u.xz, 1e-7)));
    vec2 a = 6.2831853 * u.yw;
    return vec4(r.x * cos(a.x), r.x * sin(a.x), r.y * cos(a.y), r.y * sin(a.y));
}
