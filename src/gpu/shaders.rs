//! WGSL sources, the `#import` preprocessor and naga validation.
//!
//! Every kernel lives in its own file under `shaders/`; structs, RNG and helpers
//! shared between kernels live in `shaders/shared/` and are pulled in with a line
//! `#import name`. Sources are embedded at compile time so the binary is
//! self-contained, and each one is validated with naga before wgpu sees it, so a
//! shader bug becomes an error naming the file and line instead of a panic.

use super::context::GpuError;

macro_rules! wgsl {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name, ".wgsl")))),*]
    };
}

/// Shared modules available to `#import`.
pub const SHARED: &[(&str, &str)] = wgsl![
    "shared/rng",
    "shared/activation",
    "shared/nn_common",
    "shared/nn_stats",
    "shared/nn_fused",
    "shared/packed",
    "shared/lattice_common",
    "shared/lattice_energy",
];

/// Kernels (one entry point each), by path under `shaders/` without extension.
pub const KERNELS: &[(&str, &str)] = wgsl![
    "nn/init_params",
    "nn/forward_hidden1",
    "nn/residual",
    "nn/update_hidden1",
    "nn/layer_forward",
    "nn/output_forward",
    "nn/layer_backward",
    "nn/grad_update",
    "nn/hidden_forward",
    "nn/hidden_backward",
    "nn/hidden_grad_update",
    "nn/member_record",
    "nn/ntk_gram",
    "nn/dense_forward",
    "nn/dense_forward_x8",
    "nn/dense_backward",
    "nn/dense_backward_x8",
    "nn/dense_gram",
    "lattice/kick_drift",
    "lattice/kick_drift_column",
    "lattice/energy_fold",
    "lattice/coupled_force",
    "lattice/reduce",
    "lattice/ic_noise",
    "gpu/stream_copy",
    "test/activation_eval",
    "test/rng_normal",
];

/// A preprocessed source with a map from its lines back to the files they came from.
pub struct Preprocessed {
    pub source: String,
    origin: Vec<(String, usize)>,
}

impl Preprocessed {
    /// `file:line` for a 1-based line of the preprocessed source.
    pub fn locate(&self, line: usize) -> String {
        match self.origin.get(line.saturating_sub(1)) {
            Some((f, l)) => format!("shaders/{f}.wgsl:{l}"),
            None => "<unknown>".into(),
        }
    }
}

fn lookup<'a>(table: &'a [(&str, &str)], name: &str) -> Option<&'a str> {
    table.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Expands `#import` lines (each shared module at most once), from embedded sources.
pub fn preprocess(name: &str) -> Result<Preprocessed, GpuError> {
    let src = lookup(KERNELS, name)
        .ok_or_else(|| GpuError::Shader(format!("`{name}` is not registered")))?;
    preprocess_source(name, src, &|m| {
        lookup(SHARED, &format!("shared/{m}")).map(str::to_string)
    })
}

/// Expands `#import` lines using `fetch` to find shared modules by name.
pub fn preprocess_source(
    name: &str,
    src: &str,
    fetch: &dyn Fn(&str) -> Option<String>,
) -> Result<Preprocessed, GpuError> {
    let mut out = Preprocessed {
        source: String::new(),
        origin: Vec::new(),
    };
    let mut seen = Vec::new();
    expand(name, src, fetch, &mut seen, &mut out)?;
    Ok(out)
}

fn expand(
    name: &str,
    src: &str,
    fetch: &dyn Fn(&str) -> Option<String>,
    seen: &mut Vec<String>,
    out: &mut Preprocessed,
) -> Result<(), GpuError> {
    for (i, line) in src.lines().enumerate() {
        if let Some(m) = line.trim().strip_prefix("#import ") {
            let m = m.trim().to_string();
            if seen.contains(&m) {
                continue;
            }
            let body = fetch(&m).ok_or_else(|| {
                GpuError::Shader(format!(
                    "shaders/{name}.wgsl:{}: unknown import `{m}`",
                    i + 1
                ))
            })?;
            seen.push(m.clone());
            expand(&format!("shared/{m}"), &body, fetch, seen, out)?;
        } else {
            out.source.push_str(line);
            out.source.push('\n');
            out.origin.push((name.to_string(), i + 1));
        }
    }
    Ok(())
}

/// Parses and validates with naga; errors carry the original file and line.
pub fn validate(p: &Preprocessed) -> Result<naga::Module, GpuError> {
    let module = naga::front::wgsl::parse_str(&p.source).map_err(|e| {
        let line = e
            .location(&p.source)
            .map(|l| l.line_number as usize)
            .unwrap_or(0);
        GpuError::Shader(format!("{}: {}", p.locate(line), e.message()))
    })?;
    let mut v = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    );
    v.validate(&module).map_err(|e| {
        let line = e
            .spans()
            .next()
            .map(|(span, _)| span.location(&p.source).line_number as usize)
            .unwrap_or(0);
        // The top error names only the entry point or function; its causes say what.
        let mut what = e.as_inner().to_string();
        let mut cause = std::error::Error::source(e.as_inner());
        while let Some(c) = cause {
            what.push_str(&format!(": {c}"));
            cause = c.source();
        }
        GpuError::Shader(format!("{}: {what}", p.locate(line)))
    })?;
    Ok(module)
}
