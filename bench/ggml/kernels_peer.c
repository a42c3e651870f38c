// kernels_peer: ggml's side of bench/35-ggml-kernels.sh.
//
// It loads libggml-base.so (npm @node-llama-cpp/linux-x64) with dlopen and times
// ggml_quantize_chunk on one thread for each type quant/ggml supports, with and without an
// importance matrix where ggml uses one, on ROWS x COLS gaussian weights (0.02 sigma, 1%
// outliers). The figure is the best of REPS runs in MB/s of float32 input (1e6 bytes) per
// second of the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that other processes on a
// shared machine do not count against it.
//
// Usage: kernels_peer LIBGGML_BASE_SO [ROWS COLS REPS]; prints "ggml TYPE MBPS" lines.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef size_t (*quantize_chunk_fn)(int type, const float *src, void *dst, int64_t start,
                                    int64_t nrows, int64_t n_per_row, const float *imatrix);
typedef size_t (*row_size_fn)(int type, int64_t ne);

static uint64_t state = 7;
static uint64_t next_u64(void) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform(void) { return (double)((next_u64() >> 11) + 1) * 0x1.0p-53; }
static double normal(void) { return sqrt(-2.0 * log(uniform())) * cos(2.0 * M_PI * uniform()); }

static double thread_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s LIBGGML_BASE_SO [ROWS COLS REPS]\n", argv[0]);
        return 2;
    }
    const int rows = argc > 2 ? atoi(argv[2]) : 256, cols = argc > 3 ? atoi(argv[3]) : 4096;
    const int reps = argc > 4 ? atoi(argv[4]) : 3;
    if (rows < 1 || cols < 256 || cols % 256 || reps < 1) {
        fprintf(stderr, "kernels_peer: want ROWS >= 1, COLS a multiple of 256, REPS >= 1\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "kernels_peer: cannot load %s: %s\n", argv[1], dlerror());
        return 2;
    }
    quantize_chunk_fn quantize = (quantize_chunk_fn)dlsym(lib, "ggml_quantize_chunk");
    row_size_fn row_size = (row_size_fn)dlsym(lib, "ggml_row_size");
    if (quantize == NULL || row_size == NULL) {
        fprintf(stderr, "kernels_peer: %s lacks ggml_quantize_chunk or ggml_row_size\n", argv[1]);
        return 2;
    }
    const size_t n = (size_t)rows * cols;
    float *x = malloc(n * sizeof *x), *im = malloc(cols * sizeof *im);
    void *dst = malloc(n * 4);
    if (x == NULL || im == NULL || dst == NULL) {
        fprintf(stderr, "kernels_peer: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)((next_u64() % 100 == 0 ? 3.0 : 0.02) * normal());
    }
    for (int c = 0; c < cols; c++) {
        im[c] = (float)exp(2.0 * normal());
    }
    static const struct {
        const char *name;
        int id, imatrix;
    } types[] = {
        {"F16", 1, 0},  {"BF16", 30, 0}, {"Q8_0", 8, 0},  {"Q4_0", 2, 0},  {"Q4_0/imatrix", 2, 1},
        {"Q4_1", 3, 0}, {"Q4_1/imatrix", 3, 1}, {"Q5_0", 6, 0}, {"Q5_0/imatrix", 6, 1}, {"Q5_1", 7, 0},
        {"Q5_1/imatrix", 7, 1}, {"Q2_K", 10, 0}, {"Q2_K/imatrix", 10, 1}, {"Q3_K", 11, 0},
        {"Q3_K/imatrix", 11, 1}, {"Q4_K", 12, 0}, {"Q4_K/imatrix", 12, 1}, {"Q5_K", 13, 0},
        {"Q5_K/imatrix", 13, 1}, {"Q6_K", 14, 0}, {"Q6_K/imatrix", 14, 1},
    };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        double best = INFINITY;
        for (int r = 0; r < reps; r++) {
            const double start = thread_seconds();
            quantize(types[t].id, x, dst, 0, rows, cols, types[t].imatrix ? im : NULL);
            const double s = thread_seconds() - start;
            best = s < best ? s : best;
        }
        printf("ggml %s %.1f\n", types[t].name, (double)n * 4 / best / 1e6);
        fflush(stdout);
    }
    return 0;
}
