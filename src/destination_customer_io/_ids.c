/* _ids: the deterministic event id's hash in C: blake2b-128 of three byte strings -> a ULID's text.

An optional accelerator. The definition is values.python_hash_ulid (hashlib.blake2b with
digest_size=16, then values.hash_ulid); this returns the same 26 characters without the six Python
calls around them: 1.3 -> 0.5 us per ~300-byte event (bench/id_cost.py). setup.py builds it when a C
compiler is there; without one, values.py uses the Python path. tests/unit/test_ids.py compares both.
BLAKE2b follows RFC 7693 (its reference implementation, appendix C), with the 12 rounds unrolled.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t b[128];
    uint64_t h[8];
    uint64_t t[2];
    size_t c;
} b2b_ctx;

static const uint64_t b2b_iv[8] = {
    0x6A09E667F3BCC908ULL, 0xBB67AE8584CAA73BULL, 0x3C6EF372FE94F82BULL, 0xA54FF53A5F1D36F1ULL,
    0x510E527FADE682D1ULL, 0x9B05688C2B3E6C1FULL, 0x1F83D9ABFB41BD6BULL, 0x5BE0CD19137E2179ULL,
};

static const uint8_t b2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

#define ROTR64(x, y) (((x) >> (y)) ^ ((x) << (64 - (y))))
#define B2B_G(a, b, c, d, x, y)            \
    do {                                   \
        v[a] = v[a] + v[b] + (x);          \
        v[d] = ROTR64(v[d] ^ v[a], 32);    \
        v[c] = v[c] + v[d];                \
        v[b] = ROTR64(v[b] ^ v[c], 24);    \
        v[a] = v[a] + v[b] + (y);          \
        v[d] = ROTR64(v[d] ^ v[a], 16);    \
        v[c] = v[c] + v[d];                \
        v[b] = ROTR64(v[b] ^ v[c], 63);    \
    } while (0)

#define B2B_ROUND(r)                                                            \
    do {                                                                        \
        B2B_G(0, 4, 8, 12, m[b2b_sigma[r][0]], m[b2b_sigma[r][1]]);             \
        B2B_G(1, 5, 9, 13, m[b2b_sigma[r][2]], m[b2b_sigma[r][3]]);             \
        B2B_G(2, 6, 10, 14, m[b2b_sigma[r][4]], m[b2b_sigma[r][5]]);            \
        B2B_G(3, 7, 11, 15, m[b2b_sigma[r][6]], m[b2b_sigma[r][7]]);            \
        B2B_G(0, 5, 10, 15, m[b2b_sigma[r][8]], m[b2b_sigma[r][9]]);            \
        B2B_G(1, 6, 11, 12, m[b2b_sigma[r][10]], m[b2b_sigma[r][11]]);          \
        B2B_G(2, 7, 8, 13, m[b2b_sigma[r][12]], m[b2b_sigma[r][13]]);           \
        B2B_G(3, 4, 9, 14, m[b2b_sigma[r][14]], m[b2b_sigma[r][15]]);           \
    } while (0)

static uint64_t load64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24)
        | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

static void b2b_compress(b2b_ctx *ctx, int last)
{
    uint64_t v[16], m[16];
    int i;
    for (i = 0; i < 8; i++) {
        v[i] = ctx->h[i];
        v[i + 8] = b2b_iv[i];
    }
    v[12] ^= ctx->t[0];
    v[13] ^= ctx->t[1];
    if (last)
        v[14] = ~v[14];
    for (i = 0; i < 16; i++)
        m[i] = load64(&ctx->b[8 * i]);
    /* 12 rounds, unrolled so each message word index is a constant */
    B2B_ROUND(0);
    B2B_ROUND(1);
    B2B_ROUND(2);
    B2B_ROUND(3);
    B2B_ROUND(4);
    B2B_ROUND(5);
    B2B_ROUND(6);
    B2B_ROUND(7);
    B2B_ROUND(8);
    B2B_ROUND(9);
    B2B_ROUND(10);
    B2B_ROUND(11);
    for (i = 0; i < 8; i++)
        ctx->h[i] ^= v[i] ^ v[i + 8];
}

static void b2b_init16(b2b_ctx *ctx)
{
    int i;
    for (i = 0; i < 8; i++)
        ctx->h[i] = b2b_iv[i];
    ctx->h[0] ^= 0x01010000ULL ^ 16;  /* digest length 16, no key, fanout 1, depth 1 */
    ctx->t[0] = ctx->t[1] = 0;
    ctx->c = 0;
}

static void b2b_update(b2b_ctx *ctx, const uint8_t *in, size_t len)
{
    while (len > 0) {
        if (ctx->c == 128) {  /* a full block is compressed only once more input follows it */
            ctx->t[0] += 128;
            if (ctx->t[0] < 128)
                ctx->t[1]++;
            b2b_compress(ctx, 0);
            ctx->c = 0;
        }
        size_t take = 128 - ctx->c;
        if (take > len)
            take = len;
        memcpy(ctx->b + ctx->c, in, take);
        ctx->c += take;
        in += take;
        len -= take;
    }
}

static void b2b_final16(b2b_ctx *ctx, uint8_t out[16])
{
    int i;
    ctx->t[0] += ctx->c;
    if (ctx->t[0] < ctx->c)
        ctx->t[1]++;
    memset(ctx->b + ctx->c, 0, 128 - ctx->c);
    b2b_compress(ctx, 1);
    for (i = 0; i < 16; i++)
        out[i] = (uint8_t)(ctx->h[i >> 3] >> (8 * (i & 7)));
}

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
#define MAX_ULID_MS ((1LL << 48) - 1)

/* hash_ulid(ms, head, body, tail) -> str: the ULID of time ms (clamped to 0..2**48-1) whose 80 random
   bits are the low 5 bits of each byte of blake2b(head + body + tail, digest_size=16). */
static PyObject *hash_ulid(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer parts[3];
    uint8_t digest[16];
    b2b_ctx ctx;
    int i, got = 0;
    long long ms;
    int overflow = 0;

    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "hash_ulid(ms, head, body, tail) takes 4 arguments");
        return NULL;
    }
    ms = PyLong_AsLongLongAndOverflow(args[0], &overflow);
    if (ms == -1 && PyErr_Occurred())
        return NULL;
    if (overflow > 0 || ms > MAX_ULID_MS)
        ms = MAX_ULID_MS;
    else if (overflow < 0 || ms < 0)
        ms = 0;
    for (got = 0; got < 3; got++) {
        if (PyObject_GetBuffer(args[got + 1], &parts[got], PyBUF_SIMPLE) < 0)
            goto fail;
    }
    b2b_init16(&ctx);
    for (i = 0; i < 3; i++)
        b2b_update(&ctx, parts[i].buf, (size_t)parts[i].len);
    b2b_final16(&ctx, digest);
    for (i = 0; i < 3; i++)
        PyBuffer_Release(&parts[i]);

    PyObject *text = PyUnicode_New(26, 127);
    if (text == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    for (i = 9; i >= 0; i--) {
        out[i] = (Py_UCS1)crockford[ms & 31];
        ms >>= 5;
    }
    for (i = 0; i < 16; i++)
        out[10 + i] = (Py_UCS1)crockford[digest[i] & 31];
    return text;

fail:
    for (i = 0; i < got; i++)
        PyBuffer_Release(&parts[i]);
    return NULL;
}

static PyMethodDef ids_methods[] = {
    {"hash_ulid", (PyCFunction)(void (*)(void))hash_ulid, METH_FASTCALL,
     "hash_ulid(ms, head, body, tail) -> the ULID of time ms and blake2b-128(head + body + tail)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef ids_module = {
    PyModuleDef_HEAD_INIT, "_ids", "The deterministic event id's hot path in C (see values.py).", -1,
    ids_methods,
};

PyMODINIT_FUNC PyInit__ids(void)
{
    return PyModule_Create(&ids_module);
}
