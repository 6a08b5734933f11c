#include "model/rope.h"

#include <math.h>

#include "core/error.h"

/* YaRN (Peng et al. 2023, sec. 3.2): the dimension whose wavelength fits
 * N_ROTATIONS times into the original context. */
static double yarn_corr_dim(int n_rot, int n_ctx_orig, double n_rotations, double base) {
    return n_rot * log(n_ctx_orig / (n_rotations * 2 * M_PI)) / (2 * log(base));
}

mb_status mb_rope_init_ex(mb_rope *r, const mb_hparams *hp, const float *freq_factors, float mscale,
                          int windowed) {
    const double base = windowed ? hp->rope_base_swa : hp->rope_base;
    const double freq_scale = windowed && !hp->rope_scale_swa ? 1.0 : hp->rope_freq_scale;
    if (hp->n_rot / 2 > 512)
        return mb_errorf(MB_ERR_UNSUPPORTED, "rope dimension %d is larger than 1024", hp->n_rot);
    r->n_rot = hp->n_rot;
    r->mode = hp->rope_mode;
    for (int i = 0; i < hp->n_rot / 2; i++) {
        double f = pow(base, -2.0 * i / hp->n_rot);
        if (freq_factors) {
            if (!(freq_factors[i] > 0))
                return mb_errorf(MB_ERR_FORMAT, "rope_freqs.weight[%d] = %g is not positive", i,
                                 freq_factors[i]);
            f /= freq_factors[i];
        }
        r->inv_freq[i] = f;
    }
    r->freq_scale = freq_scale;
    r->ext_factor = 0;
    r->mscale = mscale;
    r->corr_low = r->corr_high = 0;
    if (hp->rope_scaling == MB_ROPE_SCALING_YARN && !(windowed && !hp->rope_scale_swa)) {
        r->ext_factor = 1;
        r->mscale = hp->yarn_attn_factor * (1 + 0.1 * log(1 / r->freq_scale));
        double lo = floor(yarn_corr_dim(hp->n_rot, hp->yarn_orig_ctx, hp->yarn_beta_fast, base));
        double hi = ceil(yarn_corr_dim(hp->n_rot, hp->yarn_orig_ctx, hp->yarn_beta_slow, base));
        r->corr_low = lo > 0 ? lo : 0;
        r->corr_high = hi < hp->n_rot - 1 ? hi : hp->n_rot - 1;
    }
    return MB_OK;
}

mb_status mb_rope_init(mb_rope *r, const mb_hparams *hp, const float *freq_factors) {
    return mb_rope_init_ex(r, hp, freq_factors, 1.0f, 0);
}

/* 1 for dimensions that keep extrapolating (high frequency), 0 for those
 * fully interpolated, linear in between. */
static double yarn_ramp(const mb_rope *r, int i) {
    double y = (i - r->corr_low) / fmax(0.001, r->corr_high - r->corr_low);
    return 1 - fmin(1, fmax(0, y));
}

void mb_rope_angles(const mb_rope *r, int pos, float *c, float *s) {
    for (int i = 0; i < r->n_rot / 2; i++) {
        double extrap = pos * r->inv_freq[i];
        double theta = r->freq_scale * extrap;
        if (r->ext_factor != 0) {
            double mix = yarn_ramp(r, i) * r->ext_factor;
            theta = theta * (1 - mix) + extrap * mix;
        }
        c[i] = (float)(cos(theta) * r->mscale), s[i] = (float)(sin(theta) * r->mscale);
    }
}

void mb_rope_rotate(const mb_rope *r, const float *c, const float *s, float *x, int n_heads,
                    int hd) {
    const int half = r->n_rot / 2, neox = r->mode == MB_ROPE_NEOX;
    for (int h = 0; h < n_heads; h++) {
        float *p = x + h * hd;
        for (int i = 0; i < half; i++) {
            const int first = neox ? i : 2 * i, second = neox ? i + half : 2 * i + 1;
            const float a = p[first], b = p[second];
            p[first] = a * c[i] - b * s[i];
            p[second] = a * s[i] + b * c[i];
        }
    }
}

void mb_rope_apply(const mb_rope *r, float *x, int n_heads, int hd, int pos) {
    float c[512], s[512];
    mb_rope_angles(r, pos, c, s);
    mb_rope_rotate(r, c, s, x, n_heads, hd);
}
