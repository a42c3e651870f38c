// quantize_peer: the llama-quantize peer of bench/25-ggml-peer.sh.
//
// It loads ggml's libggml-base.so (the prebuilt llama.cpp libraries of the npm package
// @node-llama-cpp/linux-x64) with dlopen and times ggml_quantize_chunk, the call llama-quantize
// makes for every chunk of rows of a float32 tensor, on the two weight shapes, to Q8_0
// and Q4_0, split over threads the way llama-quantize splits a tensor (see quantize_threaded).
// Before timing, it checks that the library computes what NUMERICS.md says ggml computes,
// decoding the blocks by hand, so a wrong library or a wrong enum value fails loudly instead of
// producing a speed for the wrong work.
//
// Usage: quantize_peer LIBGGML_BASE_SO [THREADS [REPS]]: best of REPS runs, more (up to
// 4 × REPS) while the fastest got less than 0.95 of the THREADS cores.
// Output: one "ggml TYPE SHAPE GBPS VALIDATED_GBPS CPU_SHARE" line per type and shape on
// stdout, where GB/s count float32 input bytes (1e9) and CPU_SHARE is the fraction of THREADS
// cores the fastest run got (see quantize_threaded). Exit status 2 when the library cannot be
// loaded or lacks a symbol, 1 when a check fails.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

// enum ggml_type values from llama.cpp's ggml/include/ggml.h ("always add types at the end
// of the enum", so they are stable across versions). main checks them against the library's
// block sizes before using them.
enum {
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q8_0 = 8,
};

// Block layouts (ggml-common.h): an fp16 scale d, then the codes.
enum {
    QK = 32,               // elements per block, both types
    Q8_0_BLOCK_BYTES = 34, // d + 32 int8 codes
    Q4_0_BLOCK_BYTES = 18, // d + 16 bytes of nibbles
};

// llama-quantize hands each thread chunks of at least this many elements
// (llama-quant.cpp: 32 * 512), whole rows each.
enum { MIN_CHUNK_ELEMENTS = 32 * 512 };

typedef size_t (*quantize_chunk_fn)(int type, const float *src, void *dst, int64_t start,
                                    int64_t nrows, int64_t n_per_row, const float *imatrix);
typedef size_t (*row_size_fn)(int type, int64_t ne);
typedef size_t (*type_size_fn)(int type);
typedef int64_t (*blck_size_fn)(int type);
typedef const char *(*string_fn)(void);
typedef bool (*validate_row_data_fn)(int type, const void *data, size_t nbytes);
typedef void (*dequantize_row_fn)(const void *src, float *dst, int64_t k);

static struct {
    quantize_chunk_fn quantize_chunk;
    row_size_fn row_size;
    type_size_fn type_size;
    blck_size_fn blck_size;
    string_fn version;
    string_fn commit;
    validate_row_data_fn validate_row_data;
    dequantize_row_fn dequantize_row_q8_0;
} ggml;

static void *symbol(void *lib, const char *path, const char *name) {
    void *p = dlsym(lib, name);
    if (p == NULL) {
        fprintf(stderr, "ggml peer: %s does not export %s (not the ggml this harness was written for)\n",
                path, name);
        exit(2);
    }
    return p;
}

static void load(const char *path) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "ggml peer: cannot load %s: %s\n", path, dlerror());
        exit(2);
    }
    ggml.quantize_chunk = (quantize_chunk_fn)symbol(lib, path, "ggml_quantize_chunk");
    ggml.row_size = (row_size_fn)symbol(lib, path, "ggml_row_size");
    ggml.type_size = (type_size_fn)symbol(lib, path, "ggml_type_size");
    ggml.blck_size = (blck_size_fn)symbol(lib, path, "ggml_blck_size");
    ggml.version = (string_fn)symbol(lib, path, "ggml_version");
    ggml.commit = (string_fn)symbol(lib, path, "ggml_commit");
    ggml.validate_row_data = (validate_row_data_fn)symbol(lib, path, "ggml_validate_row_data");
    ggml.dequantize_row_q8_0 = (dequantize_row_fn)symbol(lib, path, "dequantize_row_q8_0");
}

static int failures;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ggml peer: check failed: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

// ---- inputs ----

// splitmix64, then Box-Muller: a fixed, portable normal sequence (the Go benchmarks use their
// own PCG stream; both are N(0, 0.02^2), which is all the speed depends on).
static uint64_t rng_state;

static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double next_uniform(void) { // in (0, 1]
    return (double)((next_u64() >> 11) + 1) * 0x1.0p-53;
}

static float *normal_weights(int64_t n, uint64_t seed) {
    float *x = malloc((size_t)n * sizeof *x);
    if (x == NULL) {
        fprintf(stderr, "ggml peer: out of memory for %lld floats\n", (long long)n);
        exit(2);
    }
    rng_state = seed;
    for (int64_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(next_uniform())), t = 2.0 * M_PI * next_uniform();
        x[i] = (float)(0.02 * r * cos(t));
        if (i + 1 < n) {
            x[i + 1] = (float)(0.02 * r * sin(t));
        }
    }
    return x;
}

// ---- checks: what ggml computes, decoded by hand ----

// fp16_to_f32 decodes IEEE binary16 bits without the library, so the checks do not trust
// ggml's own conversion.
static float fp16_to_f32(uint16_t h) {
    int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float magnitude;
    if (exponent == 0) {
        magnitude = ldexpf((float)mantissa, -24); // subnormal
    } else if (exponent == 31) {
        magnitude = mantissa ? NAN : INFINITY;
    } else {
        magnitude = ldexpf((float)(mantissa | 0x400), exponent - 25);
    }
    return sign ? -magnitude : magnitude;
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

// check_fp16_nearest: the stored scale is the fp16 value nearest to the float32 scale d
// (ggml converts with round to nearest even; a tie may go either way here).
static void check_fp16_nearest(uint16_t h, float d, const char *what) {
    if ((h & 0x7fff) == 0) { // ±0: the neighbour test below does not apply across zero
        if (d != 0) {
            fail("%s: fp16 scale 0 for d = %g", what, d);
        }
        return;
    }
    const float got = fp16_to_f32(h);
    const float below = fp16_to_f32((uint16_t)(h - 1)), above = fp16_to_f32((uint16_t)(h + 1));
    if (fabsf(got - d) > fabsf(below - d) || fabsf(got - d) > fabsf(above - d)) {
        fail("%s: fp16 scale %g (0x%04x) is not the nearest fp16 to d = %.9g", what, got, h, d);
    }
}

// check_q8_0_block checks one Q8_0 block against NUMERICS.md: d = amax/127 in float32, codes
// roundf(x * (1/d)) (the library multiplies by the float32 reciprocal rather than dividing),
// rounding half away from zero, and d stored as fp16. It returns the largest |x - d16*q| / d16,
// the reconstruction error with the stored scale.
static double check_q8_0_block(const float *x, const uint8_t *block, float *dequantized,
                               const char *what) {
    float amax = 0;
    for (int i = 0; i < QK; i++) {
        amax = fmaxf(amax, fabsf(x[i]));
    }
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const uint16_t h = load_u16(block);
    const float d16 = fp16_to_f32(h);
    check_fp16_nearest(h, d, what);
    double worst = 0;
    for (int i = 0; i < QK; i++) {
        const int q = (int8_t)block[2 + i];
        const int want = (int)roundf(x[i] * id);
        if (q != want) {
            fail("%s: element %d = %.9g: code %d, want roundf(x/d) = %d", what, i, x[i], q, want);
            continue;
        }
        // Within the float32 scale, every code is within half a step, up to float32 error in
        // x * (1/d) (relative 2^-23 twice, times at most 127 steps: 3.1e-5 of a step).
        const double error = fabs((double)x[i] - (double)d * q);
        if (error > d * (0.5 + 3.1e-5)) {
            fail("%s: element %d = %.9g: |x - d*q| = %g > d/2 = %g", what, i, x[i], error, d / 2);
        }
        // With the stored fp16 scale the step moves by |d - d16| per code: the bound widens
        // by |q| * |d - d16| (up to 127 * 2^-11 d = 0.062 d).
        const double error16 = fabs((double)x[i] - (double)d16 * q);
        const double bound16 = d * (0.5 + 3.1e-5) + fabs(q * ((double)d - d16));
        if (error16 > bound16) {
            fail("%s: element %d = %.9g: |x - d16*q| = %g > %g", what, i, x[i], error16, bound16);
        }
        if (d16 != 0 && error16 / d16 > worst) {
            worst = error16 / d16;
        }
        // The library's own dequantizer must agree with the hand decoding bit for bit.
        if (dequantized != NULL && dequantized[i] != d16 * (float)q) {
            fail("%s: dequantize_row_q8_0 gives %.9g, hand decoding d16*q = %.9g", what,
                 dequantized[i], d16 * (float)q);
        }
    }
    return worst;
}

// check_q4_0_block checks one Q4_0 block against NUMERICS.md: max is the element of largest
// magnitude (the first one, sign kept), d = max / -8, codes min(15, (int8)(x/d + 8.5)), and
// byte j holds element j in its low nibble and element j+16 in its high nibble.
static void check_q4_0_block(const float *x, const uint8_t *block, const char *what) {
    float amax = 0, max = 0;
    for (int i = 0; i < QK; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    const float d = max / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    check_fp16_nearest(load_u16(block), d, what);
    for (int j = 0; j < QK / 2; j++) {
        int lo = (int8_t)(x[j] * id + 8.5f), hi = (int8_t)(x[j + QK / 2] * id + 8.5f);
        lo = lo < 15 ? lo : 15;
        hi = hi < 15 ? hi : 15;
        const uint8_t want = (uint8_t)(lo | hi << 4), got = block[2 + j];
        if (got != want) {
            fail("%s: byte %d = 0x%02x, want 0x%02x (elements %.9g, %.9g)", what, j, got, want,
                 x[j], x[j + QK / 2]);
        }
    }
}

static void check_numerics(void) {
    // The enum values: a Q8_0 block is 32 elements in 34 bytes, a Q4_0 block 32 in 18. A
    // renumbered enum would pair a type with another's block size.
    if (ggml.blck_size(GGML_TYPE_Q8_0) != QK || ggml.type_size(GGML_TYPE_Q8_0) != Q8_0_BLOCK_BYTES ||
        ggml.blck_size(GGML_TYPE_Q4_0) != QK || ggml.type_size(GGML_TYPE_Q4_0) != Q4_0_BLOCK_BYTES) {
        fprintf(stderr,
                "ggml peer: the library's block sizes do not match GGML_TYPE_Q8_0 = 8 (32 in 34 bytes) "
                "and GGML_TYPE_Q4_0 = 2 (32 in 18 bytes): got %lld/%zu and %lld/%zu\n",
                (long long)ggml.blck_size(GGML_TYPE_Q8_0), ggml.type_size(GGML_TYPE_Q8_0),
                (long long)ggml.blck_size(GGML_TYPE_Q4_0), ggml.type_size(GGML_TYPE_Q4_0));
        exit(2);
    }

    // Random rows, as in the benchmark: every block of 8 rows of 4096, both types.
    enum { ROWS = 8, COLS = 4096, BLOCKS = ROWS * COLS / QK };
    float *x = normal_weights(ROWS * COLS, 42);
    uint8_t *q8 = malloc(BLOCKS * Q8_0_BLOCK_BYTES), *q4 = malloc(BLOCKS * Q4_0_BLOCK_BYTES);
    float *y = malloc(QK * sizeof *y);
    if (q8 == NULL || q4 == NULL || y == NULL) {
        fprintf(stderr, "ggml peer: out of memory\n");
        exit(2);
    }
    // Quantize the second half starting at row 4 as a thread's chunk would, to check start.
    ggml.quantize_chunk(GGML_TYPE_Q8_0, x, q8, 0, ROWS / 2, COLS, NULL);
    ggml.quantize_chunk(GGML_TYPE_Q8_0, x, q8, (ROWS / 2) * COLS, ROWS / 2, COLS, NULL);
    ggml.quantize_chunk(GGML_TYPE_Q4_0, x, q4, 0, ROWS, COLS, NULL);
    double worst = 0;
    char what[64];
    for (int b = 0; b < BLOCKS; b++) {
        snprintf(what, sizeof what, "Q8_0 block %d", b);
        ggml.dequantize_row_q8_0(q8 + b * Q8_0_BLOCK_BYTES, y, QK);
        double w = check_q8_0_block(x + b * QK, q8 + b * Q8_0_BLOCK_BYTES, y, what);
        worst = w > worst ? w : worst;
        snprintf(what, sizeof what, "Q4_0 block %d", b);
        check_q4_0_block(x + b * QK, q4 + b * Q4_0_BLOCK_BYTES, what);
    }

    // Ties and the zero block. With amax = 127, d = 1 exactly, so x * (1/d) = x: ±2.5 and ±0.5
    // are exact ties. roundf goes away from zero (3, -3, 1, -1); torch's round half to even
    // would give 2, -2, 0, 0.
    float ties[2 * QK] = {127, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, -1.5f};
    const int want_ties[] = {127, 3, -3, 1, -1, 2, -2};
    uint8_t tq[2 * Q8_0_BLOCK_BYTES];
    ggml.quantize_chunk(GGML_TYPE_Q8_0, ties, tq, 0, 1, 2 * QK, NULL);
    check_q8_0_block(ties, tq, NULL, "Q8_0 ties block");
    check_q8_0_block(ties + QK, tq + Q8_0_BLOCK_BYTES, NULL, "Q8_0 zero block");
    if (load_u16(tq) != 0x3c00) {
        fail("Q8_0 ties block: fp16 scale 0x%04x, want 0x3c00 (1.0)", load_u16(tq));
    }
    for (size_t i = 0; i < sizeof want_ties / sizeof want_ties[0]; i++) {
        if ((int8_t)tq[2 + i] != want_ties[i]) {
            fail("Q8_0 tie %g: code %d, want %d (half away from zero)", ties[i], (int8_t)tq[2 + i],
                 want_ties[i]);
        }
    }
    for (int i = 0; i < Q8_0_BLOCK_BYTES; i++) {
        if (tq[Q8_0_BLOCK_BYTES + i] != 0) {
            fail("Q8_0 zero block: byte %d = 0x%02x, want 0 (d = 0, codes 0)", i, tq[Q8_0_BLOCK_BYTES + i]);
        }
    }
    if (failures != 0) {
        fprintf(stderr, "ggml peer: %d numerics checks failed\n", failures);
        exit(1);
    }
    printf("check Q8_0 %d blocks and Q4_0 %d blocks decoded by hand: codes equal; "
           "|x - d*q| <= d/2 with d = amax/127; with the fp16 d16 worst |x - d16*q| = %.4f d16; "
           "ties 2.5 -> 3, -2.5 -> -3, 0.5 -> 1 (roundf, half away from zero)\n",
           BLOCKS, BLOCKS, worst);
    free(x);
    free(q8);
    free(q4);
    free(y);
}

// ---- timing ----

struct job {
    int type;
    const float *src;
    uint8_t *dst;
    int64_t rows, cols, rows_per_chunk, chunks;
    bool validate;
    atomic_int_fast64_t next_chunk;
    atomic_bool valid;
};

// worker takes chunks of whole rows from a shared counter until none are left, as
// llama-quantize's llama_tensor_quantize_impl does (optionally validating each chunk with
// ggml_validate_row_data, as it also does).
static void *worker(void *arg) {
    struct job *j = arg;
    const size_t row_bytes = ggml.row_size(j->type, j->cols);
    for (;;) {
        const int64_t chunk = atomic_fetch_add(&j->next_chunk, 1);
        if (chunk >= j->chunks) {
            return NULL;
        }
        const int64_t first = chunk * j->rows_per_chunk;
        const int64_t n = j->rows - first < j->rows_per_chunk ? j->rows - first : j->rows_per_chunk;
        const size_t size = ggml.quantize_chunk(j->type, j->src, j->dst, first * j->cols, n, j->cols, NULL);
        if (j->validate && !ggml.validate_row_data(j->type, j->dst + first * row_bytes, size)) {
            atomic_store(&j->valid, false);
        }
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_seconds(void) { // user + system time of the whole process
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

// quantize_threaded quantizes the whole matrix with threads workers and returns the wall
// seconds, and in *share the CPU time it got as a fraction of threads × wall time: well below 1
// means another process took the cores meanwhile, and the speed is the machine's, not ggml's.
static double quantize_threaded(int type, const float *src, uint8_t *dst, int64_t rows, int64_t cols,
                                int threads, bool validate, double *share) {
    const int64_t chunk_elements =
        cols >= MIN_CHUNK_ELEMENTS ? cols : cols * ((MIN_CHUNK_ELEMENTS + cols - 1) / cols);
    struct job j = {.type = type, .src = src, .dst = dst, .rows = rows, .cols = cols, .validate = validate};
    j.rows_per_chunk = chunk_elements / cols;
    j.chunks = (rows + j.rows_per_chunk - 1) / j.rows_per_chunk;
    atomic_init(&j.next_chunk, 0);
    atomic_init(&j.valid, true);
    pthread_t ids[64];
    const double start = now(), cpu_start = cpu_seconds();
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&ids[t], NULL, worker, &j) != 0) {
            fprintf(stderr, "ggml peer: pthread_create failed\n");
            exit(2);
        }
    }
    worker(&j); // the calling thread is worker 0, as in llama-quantize
    for (int t = 1; t < threads; t++) {
        pthread_join(ids[t], NULL);
    }
    const double seconds = now() - start;
    if (share != NULL) {
        *share = (cpu_seconds() - cpu_start) / (seconds * threads);
    }
    if (!atomic_load(&j.valid)) {
        fprintf(stderr, "ggml peer: ggml_validate_row_data rejected the quantized data\n");
        exit(1);
    }
    return seconds;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s LIBGGML_BASE_SO [THREADS [REPS]]\n", argv[0]);
        return 2;
    }
    const int threads = argc > 2 ? atoi(argv[2]) : 2;
    const int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (threads < 1 || threads > 64 || reps < 1) {
        fprintf(stderr, "ggml peer: THREADS must be 1..64 and REPS at least 1\n");
        return 2;
    }
    load(argv[1]);
    printf("library ggml %s (commit %s), %d threads, best of %d\n", ggml.version(), ggml.commit(),
           threads, reps);
    fflush(stdout);
    check_numerics();

    const struct {
        const char *name;
        int64_t rows, cols;
    } shapes[] = {{"4096x4096", 4096, 4096}, {"11008x4096", 11008, 4096}};
    const struct {
        const char *name;
        int type;
    } types[] = {{"Q8_0", GGML_TYPE_Q8_0}, {"Q4_0", GGML_TYPE_Q4_0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t rows = shapes[s].rows, cols = shapes[s].cols;
        float *x = normal_weights(rows * cols, 7);
        const double gigabytes = (double)rows * cols * sizeof(float) / 1e9;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            const int type = types[t].type;
            const size_t bytes = (size_t)rows * ggml.row_size(type, cols);
            uint8_t *dst = malloc(bytes), *single = malloc(bytes);
            if (dst == NULL || single == NULL) {
                fprintf(stderr, "ggml peer: out of memory for %zu bytes\n", 2 * bytes);
                return 2;
            }
            // One call over the whole matrix: the reference the threaded split must reproduce.
            // It also faults in the output pages, as llama-quantize's reused buffer would be.
            ggml.quantize_chunk(type, x, single, 0, rows, cols, NULL);
            quantize_threaded(type, x, dst, rows, cols, threads, false, NULL); // warm-up
            if (memcmp(dst, single, bytes) != 0) {
                fprintf(stderr, "ggml peer: %s %s: the threaded split differs from one call\n",
                        types[t].name, shapes[s].name);
                return 1;
            }
            // While the fastest run so far lost its cores to other processes, keep trying (up
            // to 4 × reps), so that a noisy spell on a shared machine does not become ggml's
            // figure.
            double best = INFINITY, best_share = 0, best_validated = INFINITY, share;
            for (int r = 0; r < reps || (best_share < 0.95 && r < 4 * reps); r++) {
                double sec = quantize_threaded(type, x, dst, rows, cols, threads, false, &share);
                if (sec < best) {
                    best = sec;
                    best_share = share;
                }
                sec = quantize_threaded(type, x, dst, rows, cols, threads, true, NULL);
                best_validated = sec < best_validated ? sec : best_validated;
            }
            printf("ggml %s %s %.3f %.3f %.2f\n", types[t].name, shapes[s].name, gigabytes / best,
                   gigabytes / best_validated, best_share);
            fflush(stdout);
            free(dst);
            free(single);
        }
        free(x);
    }
    return 0;
}
