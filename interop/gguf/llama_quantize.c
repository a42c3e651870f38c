// llama-quantize's work, from llama.cpp's own library: calls llama_model_quantize of the
// prebuilt libllama in npm @node-llama-cpp/linux-x64 (the function the llama-quantize tool
// wraps), with an importance matrix read from a legacy .dat file and normalized as
// llama-quantize's load_imatrix does (sums / ncall), and --tensor-type style overrides.
//
//   llama_quantize IN.gguf OUT.gguf FTYPE [--pure] [--imatrix FILE.dat] [PATTERN=TYPE ...]
//
// FTYPE is llama.h's llama_ftype number (15 = Q4_K_M). Exits 2 when the library fails.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llama.h"

static struct llama_model_imatrix_data *read_imatrix(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    int32_t n = 0;
    if (fread(&n, 4, 1, f) != 1 || n < 1) { fprintf(stderr, "%s: no entries\n", path); exit(2); }
    struct llama_model_imatrix_data *out = calloc((size_t)n + 1, sizeof *out);
    for (int i = 0; i < n; i++) {
        int32_t len = 0, ncall = 0, nval = 0;
        if (fread(&len, 4, 1, f) != 1 || len < 1 || len > 4096) { fprintf(stderr, "%s: bad entry\n", path); exit(2); }
        char *name = calloc((size_t)len + 1, 1);
        if (fread(name, 1, (size_t)len, f) != (size_t)len || fread(&ncall, 4, 1, f) != 1 || fread(&nval, 4, 1, f) != 1 || nval < 1) {
            fprintf(stderr, "%s: bad entry %d\n", path, i); exit(2);
        }
        float *v = malloc((size_t)nval * sizeof *v);
        if (fread(v, 4, (size_t)nval, f) != (size_t)nval) { fprintf(stderr, "%s: short entry %s\n", path, name); exit(2); }
        if (ncall > 0) for (int j = 0; j < nval; j++) v[j] = v[j] / ncall;
        out[i].name = name;
        out[i].data = v;
        out[i].size = (size_t)nval;
    }
    fclose(f);
    return out;
}

static enum ggml_type type_by_name(const char *name) {
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char *n = ggml_type_name((enum ggml_type)t);
        if (n && strcasecmp(n, name) == 0) return (enum ggml_type)t;
    }
    fprintf(stderr, "unknown ggml type %s\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s IN.gguf OUT.gguf FTYPE [--pure] [--imatrix FILE.dat] [PATTERN=TYPE ...]\n", argv[0]);
        return 2;
    }
    llama_backend_init();
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = (enum llama_ftype)atoi(argv[3]);
    p.nthread = 2;
    struct llama_model_tensor_override *tt = calloc((size_t)argc, sizeof *tt);
    int ntt = 0;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--pure") == 0) {
            p.pure = true;
        } else if (strcmp(argv[i], "--imatrix") == 0 && i + 1 < argc) {
            p.imatrix = read_imatrix(argv[++i]);
        } else {
            char *eq = strrchr(argv[i], '=');
            if (!eq) { fprintf(stderr, "bad override %s\n", argv[i]); return 2; }
            *eq = 0;
            tt[ntt].pattern = argv[i];
            tt[ntt].type = type_by_name(eq + 1);
            ntt++;
        }
    }
    if (ntt > 0) p.tt_overrides = tt;
    if (llama_model_quantize(argv[1], argv[2], &p) != 0) {
        fprintf(stderr, "llama_model_quantize failed\n");
        return 2;
    }
    llama_backend_free();
    return 0;
}
