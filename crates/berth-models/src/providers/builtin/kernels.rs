//! Numeric kernels of the built-in encoder: matrix multiply, layer norm, GELU, softmax.
//!
//! Matrix products go to the `gemm` crate (runtime-dispatched AVX2/AVX-512 kernels, all
//! cores through rayon). The element-wise kernels are plain loops compiled inside
//! `pulp`'s runtime dispatch, so the compiler vectorises them for the best instruction set
//! of the machine the binary runs on, while the binary itself stays portable.

use pulp::{Arch, Simd, WithSimd};

/// Where a matrix lies inside a slice: the offset of element (0, 0) and the distance
/// between consecutive rows and columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strided {
    pub offset: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Strided {
    /// A row-major matrix with `cols` columns, starting at `offset`.
    pub fn rows(offset: usize, cols: usize) -> Strided {
        Strided {
            offset,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(offset: usize, cols: usize) -> Strided {
        Strided {
            offset,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Panics unless a `rows × cols` matrix with this layout lies inside `len` elements.
    fn check(&self, rows: usize, cols: usize, len: usize, what: &str) {
        if rows == 0 || cols == 0 {
            return;
        }
        let last = self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
        assert!(
            last < len,
            "{what}: a {rows}×{cols} matrix at {self:?} does not fit in {len} elements"
        );
    }
}

/// How many threads a product may use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Threads {
    /// The calling thread only (inside an already parallel loop).
    One,
    /// Every thread of the rayon pool.
    All,
}

/// `dst[m×n] = (accumulate ? dst : 0) + scale · lhs[m×k] · rhs[k×n]`.
///
/// Every layout is checked against its slice before the product runs, so a wrong stride
/// is a panic here rather than a read or write outside the buffers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_at: Strided,
    lhs: &[f32],
    lhs_at: Strided,
    rhs: &[f32],
    rhs_at: Strided,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    scale: f32,
    threads: Threads,
) {
    dst_at.check(m, n, dst.len(), "product");
    lhs_at.check(m, k, lhs.len(), "left operand");
    rhs_at.check(k, n, rhs.len(), "right operand");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[dst_at.offset + i * dst_at.row_stride + j * dst_at.col_stride] = 0.0;
                }
            }
        }
        return;
    }
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        Threads::All => gemm::Parallelism::Rayon(rayon::current_num_threads()),
    };
    let dst_ptr = dst[dst_at.offset..].as_mut_ptr();
    let lhs_ptr = lhs[lhs_at.offset..].as_ptr();
    let rhs_ptr = rhs[rhs_at.offset..].as_ptr();
    // SAFETY: the three layouts were checked above to stay inside their slices, the
    // destination is borrowed mutably (so it aliases neither operand), and all strides
    // are non-negative element counts that fit an isize (they index existing slices).
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst_ptr,
            dst_at.col_stride as isize,
            dst_at.row_stride as isize,
            accumulate,
            lhs_ptr,
            lhs_at.col_stride as isize,
            lhs_at.row_stride as isize,
            rhs_ptr,
            rhs_at.col_stride as isize,
            rhs_at.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `e^x` to about 2 ulp, written without branches or calls so that it vectorises.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 · 2^23 rounds to the nearest integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let bits = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    p * f32::from_bits(((bits + 127) as u32) << 23)
}

/// The exact (erf-based) GELU that BERT uses, with erf to about 1.5e-7 (Abramowitz and
/// Stegun 7.1.26).
#[inline(always)]
fn gelu(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    let erf_abs = 1.0 - poly * exp(-a * a);
    let erf = erf_abs.copysign(z);
    0.5 * x * (1.0 + erf)
}

/// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    let u = 0.797_884_6 * (x + 0.044_715 * x * x * x);
    // tanh(u) = 1 - 2 / (e^{2u} + 1)
    let tanh = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
    0.5 * x * (1.0 + tanh)
}

/// The activation between the two feed-forward layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// Exact GELU.
    Gelu,
    /// Tanh-approximated GELU.
    GeluTanh,
    /// ReLU.
    Relu,
}

struct Activate<'a>(&'a mut [f32], Activation);

impl WithSimd for Activate<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        match self.1 {
            Activation::Gelu => self.0.iter_mut().for_each(|x| *x = gelu(*x)),
            Activation::GeluTanh => self.0.iter_mut().for_each(|x| *x = gelu_tanh(*x)),
            Activation::Relu => self.0.iter_mut().for_each(|x| *x = x.max(0.0)),
        }
    }
}

/// Applies the activation in place.
pub(crate) fn activate(values: &mut [f32], activation: Activation) {
    Arch::new().dispatch(Activate(values, activation));
}

struct Softmax<'a>(&'a mut [f32]);

impl WithSimd for Softmax<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let row = self.0;
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut sum = 0.0;
        for x in row.iter_mut() {
            *x = exp(*x - max);
            sum += *x;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Softmax of one row, in place.
pub(crate) fn softmax(row: &mut [f32]) {
    Arch::new().dispatch(Softmax(row));
}

struct AddNorm<'a> {
    rows: &'a mut [f32],
    residual: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

impl WithSimd for AddNorm<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let width = self.gamma.len();
        for (i, row) in self.rows.chunks_exact_mut(width).enumerate() {
            if !self.residual.is_empty() {
                let res = &self.residual[i * width..(i + 1) * width];
                row.iter_mut().zip(res).for_each(|(x, r)| *x += *r);
            }
            let mean = row.iter().sum::<f32>() / width as f32;
            let mut var = 0.0;
            for x in row.iter() {
                let d = *x - mean;
                var += d * d;
            }
            let inv = 1.0 / (var / width as f32 + self.eps).sqrt();
            for ((x, g), b) in row.iter_mut().zip(self.gamma).zip(self.beta) {
                *x = (*x - mean) * inv * *g + *b;
            }
        }
    }
}

/// `rows = LayerNorm(rows + residual)`, row by row; an empty `residual` adds nothing.
pub(crate) fn add_norm(rows: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    Arch::new().dispatch(AddNorm {
        rows,
        residual,
        gamma,
        beta,
        eps,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_softmax_range() {
        let mut worst: f32 = 0.0;
        let mut x = -80.0f32;
        while x < 80.0 {
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
            x += 0.013;
        }
        assert!(worst < 1e-6, "relative error {worst}");
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn gelu_matches_its_definition() {
        let erf = |x: f64| {
            // Series good to 1e-12 on the tested range.
            let mut sum = 0.0;
            let mut term = x;
            let mut n = 0.0;
            while term.abs() > 1e-16 || n < 3.0 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -x * x / n;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        };
        for i in -600..600 {
            let x = i as f32 / 100.0;
            let exact = 0.5 * x as f64 * (1.0 + erf(x as f64 / 2f64.sqrt()));
            assert!(
                (gelu(x) as f64 - exact).abs() < 2e-6,
                "gelu({x}) = {} not {exact}",
                gelu(x)
            );
        }
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut row = vec![1.0, 3.0, 2.0, -50.0, 3.0];
        softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row[1] > row[2] && row[2] > row[0] && row[0] > row[3]);
        assert_eq!(row[1], row[4]);
    }

    #[test]
    fn matmul_agrees_with_a_naive_product_for_every_layout() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32).sin()).collect(); // n×k
        let mut y = vec![1.0; m * n];
        matmul(
            &mut y,
            Strided::rows(0, n),
            &a,
            Strided::rows(0, k),
            &w,
            Strided::transposed(0, k),
            (m, n, k),
            true,
            2.0,
            Threads::All,
        );
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k).map(|t| a[i * k + t] * w[j * k + t]).sum();
                assert!((y[i * n + j] - (1.0 + 2.0 * dot)).abs() < 1e-4);
            }
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn matmul_refuses_a_layout_outside_its_buffer() {
        let mut y = vec![0.0; 4];
        matmul(
            &mut y,
            Strided::rows(0, 3),
            &[1.0; 6],
            Strided::rows(0, 3),
            &[1.0; 9],
            Strided::rows(0, 3),
            (2, 3, 3),
            false,
            1.0,
            Threads::One,
        );
    }

    #[test]
    fn add_norm_normalises_each_row() {
        let mut rows = vec![1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 14.0];
        add_norm(&mut rows, &[], &[1.0; 4], &[0.0; 4], 1e-12);
        for row in rows.chunks(4) {
            let mean: f32 = row.iter().sum::<f32>() / 4.0;
            let var: f32 = row.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 4.0;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4);
        }
    }
}
