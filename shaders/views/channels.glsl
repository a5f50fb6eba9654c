// Draws one feature layer of an atlas as a grid of gray tiles, one per channel, mapping
// value v to 0.5 + 0.5 * (v - center) / scale; with `difference`, v = |atlas - other|.
uniform sampler2D atlas_tex;
uniform sampler2D other_tex;
uniform bool difference;
uniform int band_y0;
uniform ivec2 tile_size;
uniform int band_columns;
uniform int channels;
uniform int grid_columns;
uniform int grid_rows;
uniform float center;
uniform float scale;

in vec2 uv;
out vec4 frag;

void main() {
    vec2 p = vec2(uv.x, 1.0 - uv.y) * vec2(grid_columns, grid_rows);
    ivec2 cell = ivec2(floor(p));
    int channel = cell.y * grid_columns + cell.x;
    vec2 local = fract(p);
    // one-texel dark border between channel tiles
    vec2 edge = local * vec2(tile_size);
    if (channel >= channels || edge.x < 0.5 || edge.y < 0.5) { frag = vec4(0.08, 0.08, 0.1, 1.0); return; }
    int tile = channel / 4;
    ivec2 origin = ivec2((tile % band_columns) * tile_size.x, band_y0 + (tile / band_columns) * tile_size.y);
    ivec2 t = origin + min(ivec2(local * vec2(tile_size)), tile_size - 1);
    float v = texelFetch(atlas_tex, t, 0)[channel % 4];
    if (difference) v = abs(v - texelFetch(other_tex, t, 0)[channel % 4]);
    frag = vec4(vec3(clamp(0.5 + 0.5 * (v - center) / scale, 0.0, 1.0)), 1.0);
}
