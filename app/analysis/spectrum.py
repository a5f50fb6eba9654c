"""The power spectrum of a frame's luma, and two figures read from it.

``spectral_slope``: the log-log slope of the radially averaged power, where natural photos sit at
about −2.5 to −3.0 (white noise ≈ 0, a σ = 2 px blur below −10).

``periodic_peak``: how far a single spectral peak stands out of its surroundings, which is what
stripes and checkerboards look like to a viewer. For an N × N frame: the luma (Rec. 601), its mean
removed, under a separable Hann window; the power |FFT|², each frequency at its rounded radius
r = round(√(kx² + ky²)) cycles per frame. Over the high frequencies, every ring with r ≥ N/8
(periods of 8 px and shorter, corners included), each frequency's power is divided by the median
power of its ring; the figure is log10 of the largest such ratio. Rings past N/2 are arcs in the
corners, down to the single frequency of the (N/2, N/2) checkerboard: a ring of fewer than N/2
frequencies takes its median over the rings next to it too, until there are N/2. A frequency with less power than
a sinusoid of a hundredth of an 8-bit grey level (amplitude 0.01/255) is no peak, so that the float
noise of a flat frame shows none; no reference photo has a peak that faint below 1024². Natural
photos measure 10^1.0 to 10^3.4 (``app.analysis.reference`` measures them at each size); a frame
covered in stripes, 10^4 and more.
"""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])
HIGH_FREQUENCY = 1 / 8          # the band of periodic_peak starts at this fraction of N cycles per frame
FAINTEST_PEAK = 0.01 / 255          # amplitude, of pixel values 0…1
RING_SHARE = 1 / 2                  # a ring's median is taken over at least N/2 frequencies …
MIN_RING = 32                       # … and at least this many


def to_gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB → (H, W) luma; a 2-D frame is returned as it is."""
    frame = np.asarray(frame, np.float64)
    return frame @ LUMA if frame.ndim == 3 else frame


def power_spectrum(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(power, radius) of a square frame, both (N, N) with zero frequency in the middle: the power
    after removing the frame's mean and applying a separable Hann window (so the frame's edges add
    no spurious power), and each frequency's rounded radius in cycles per frame."""
    n = gray.shape[0]
    if gray.shape != (n, n):
        raise ValueError(f"spectral figures need a square frame, got {gray.shape}")
    window = np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2((gray - gray.mean()) * window))) ** 2
    y, x = np.indices(power.shape)
    radius = np.rint(np.hypot(y - n // 2, x - n // 2)).astype(int)
    return power, radius


def radial_power(gray: np.ndarray) -> np.ndarray:
    """Mean power by integer spatial frequency (cycles per frame) of a square frame."""
    power, radius = power_spectrum(gray)
    return np.bincount(radius.ravel(), power.ravel()) / np.maximum(np.bincount(radius.ravel()), 1)


def spectral_slope(frame: np.ndarray) -> float:
    """Least-squares slope of log power against log frequency over 2 … N/2−1 cycles per frame."""
    gray = to_gray(frame)
    n = gray.shape[0]
    power = radial_power(gray)
    freqs = np.arange(2, n // 2)
    tiny = np.finfo(np.float64).tiny  # a flat frame has zero power: keep the logarithm finite
    return float(np.polyfit(np.log(freqs), np.log(power[freqs] + tiny), 1)[0])


def periodic_peak(frame: np.ndarray) -> float:
    """log10 of the strongest high-frequency power over the median of its ring (see the module's
    docstring); 0 for a frame with no high-frequency power at all."""
    gray = to_gray(frame)
    n = gray.shape[0]
    power, radius = power_spectrum(gray)
    band = radius >= max(1, round(n * HIGH_FREQUENCY))
    power, radius = power[band], radius[band]
    order = np.argsort(radius, kind="stable")
    power, radius = power[order], radius[order]
    bounds = np.r_[np.flatnonzero(np.diff(radius, prepend=-1)), len(radius)]
    # a sinusoid of amplitude A puts |A·Σwindow/2|² = (A·N²/8)² into each of its two frequencies
    faintest = (FAINTEST_PEAK * n * n / 8) ** 2
    best = 1.0
    for ring in range(len(bounds) - 1):
        peak = power[bounds[ring]:bounds[ring + 1]].max()
        if peak < faintest:
            continue
        lo, hi = _ring_span(bounds, ring, max(MIN_RING, round(n * RING_SHARE)))
        median = np.median(power[bounds[lo]:bounds[hi + 1]])
        best = max(best, float(peak / median) if median > 0 else np.inf)
    return float(np.log10(best))


def _ring_span(bounds: np.ndarray, ring: int, least: int) -> tuple[int, int]:
    """The rings around ``ring`` (first, last) that together hold at least ``least`` frequencies:
    ``ring`` alone where it does; the few frequencies of a ring in the corners borrow its neighbours'."""
    lo = hi = ring
    last = len(bounds) - 2
    while bounds[hi + 1] - bounds[lo] < least and (lo > 0 or hi < last):
        lo, hi = max(lo - 1, 0), min(hi + 1, last)
    return lo, hi
