// The frame around every mixing rule. Each texel of the atlas is four channels of one feature
// layer; main() finds its layer and tile, gathers the state and the two drives (with lesions
// applied) and calls the rule's  vec4 rule(Cell c).
#include "noise.glsl"

uniform sampler2D state_tex;
uniform sampler2D up_tex;
uniform sampler2D down_tex;
uniform int n_layers;
uniform int band_y0[MAX_LAYERS];
uniform int band_y1[MAX_LAYERS];
uniform ivec2 band_tile[MAX_LAYERS];
uniform int band_columns[MAX_LAYERS];
uniform int band_tiles[MAX_LAYERS];
uniform float up_on[MAX_LAYERS];
uniform float down_on[MAX_LAYERS];
uniform int step_index;

out vec4 frag;

struct Cell {
    vec4 state;   // this layer's state at the previous step
    vec4 up;      // bottom-up drive: encoding of the layer below (0 when lesioned)
    vec4 down;    // top-down drive: decoding of the layer above (0 when lesioned)
    int layer;    // 0-based feature layer
    ivec2 texel;  // atlas position
};

int cell_layer;
ivec2 cell_origin;   // atlas position of the tile's corner
ivec2 cell_local;    // position inside the tile

// Texel of the same channel at offset d inside the tile; edges wrap (torus) or clamp.
ivec2 neighbour(ivec2 d, bool torus) {
    ivec2 size = band_tile[cell_layer];
    ivec2 q = cell_local + d;
    q = torus ? (q % size + size) % size : clamp(q, ivec2(0), size - 1);
    return cell_origin + q;
}

vec4 fetch_state(ivec2 t) { return texelFetch(state_tex, t, 0); }
vec4 fetch_up(ivec2 t) { return texelFetch(up_tex, t, 0) * up_on[cell_layer]; }
vec4 fetch_down(ivec2 t) { return texelFetch(down_tex, t, 0) * down_on[cell_layer]; }

// 5-point average: the texel and its four neighbours.
#define BLUR5(fetch, torus) (0.2 * (fetch(neighbour(ivec2(0, 0), torus)) + fetch(neighbour(ivec2(1, 0), torus)) \
    + fetch(neighbour(ivec2(-1, 0), torus)) + fetch(neighbour(ivec2(0, 1), torus)) + fetch(neighbour(ivec2(0, -1), torus))))

vec4 noise4() { return gaussian4(ivec2(gl_FragCoord.xy), step_index); }

vec4 rule(Cell c);

void main() {
    ivec2 t = ivec2(gl_FragCoord.xy);
    cell_layer = -1;
    for (int l = 0; l < n_layers; ++l) {
        if (t.y >= band_y0[l] && t.y < band_y1[l]) { cell_layer = l; break; }
    }
    if (cell_layer < 0) { frag = vec4(0.0); return; }
    ivec2 size = band_tile[cell_layer];
    ivec2 tile = ivec2(t.x / size.x, (t.y - band_y0[cell_layer]) / size.y);
    if (tile.x >= band_columns[cell_layer] || tile.y * band_columns[cell_layer] + tile.x >= band_tiles[cell_layer]) {
        frag = vec4(0.0);
        return;
    }
    cell_origin = ivec2(tile.x * size.x, band_y0[cell_layer] + tile.y * size.y);
    cell_local = t - cell_origin;
    Cell c = Cell(fetch_state(t), fetch_up(t), fetch_down(t), cell_layer, t);
    frag = rule(c);
}
