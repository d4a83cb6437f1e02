// Adds the per-workgroup energy sums of one kick–drift unit (energy_parts, written
// by the kick–drift kernels through lattice_energy) into the unit's slot of
// `energy`, so that a batch of units is read back at once.
// CPU twin: the plain sum of the parts (reference::lattice::energy_fold).
#import lattice_common

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> energy_parts: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> energy: array<vec4<f32>>;

const FWG: u32 = 256u;

var<workgroup> part: array<vec4<f32>, FWG>;

@compute @workgroup_size(FWG)
fn main(@builtin(local_invocation_index) lid: u32) {
    let count = p.parts;
    var s = vec4<f32>(0.0);
    for (var i = lid; i < count; i = i + FWG) {
        s = s + energy_parts[i];
    }
    part[lid] = s;
    workgroupBarrier();
    for (var stride = FWG / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            part[lid] = part[lid] + part[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        energy[p.slot] = part[0];
    }
}
