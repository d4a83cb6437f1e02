// Adds the per-workgroup energy sums of one kick–drift unit (energy_parts, written
// by the kick–drift kernels through lattice_energy) into the unit's slot of
// `energy`, one field per workgroup (dispatch [1, 1, F]): field b's p.parts parts
// go to energy[slot·F + b], so that a batch of units is read back at once.
// CPU twin: with the kick–drift kernels' workgroup sums, the whole-grid sums per
// field that reference::lattice::kick_drift_fields returns (compared in
// tests/lattice_gpu.rs).
#import lattice_common
#import lattice_energy

@group(0) @binding(0) var<uniform> p: StepParams;
// read_write only because lattice_energy's energy_store (unused here) writes it.
@group(0) @binding(1) var<storage, read_write> energy_parts: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> energy: array<vec4<f32>>;

// One workgroup of WG invocations strides over one field's parts.
override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let b = wid.z;
    let first = b * p.parts;
    var s = vec4<f32>(0.0);
    for (var i = lid; i < p.parts; i = i + WG) {
        s = s + energy_parts[first + i];
    }
    let total = energy_wg_sum(lid, s);
    if (lid == 0u) {
        energy[p.slot * p.nfields + b] = total;
    }
}
