/*
 * inflate.c - gzip through ISA-L, zstd through libzstd, behind one small
 * pull interface (see inflate.h).
 */
#include "inflate.h"

#include "alloc.h"

#include <isa-l/igzip_lib.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

/* Compressed bytes pulled at a time. */
#define IN_SIZE (128u << 10)

struct ksi_inflater {
    ksi_codec codec;
    ksi_pull_fn pull;
    void *ctx;
    unsigned char *in;
    size_t in_len;              /* bytes in `in` */
    size_t in_pos;              /* first unused byte */
    int in_eof;                 /* pull reported the end */
    int done;                   /* stream fully decoded */
    uint64_t in_total;          /* compressed bytes pulled */
    uint64_t out_total;
    struct inflate_state *gz;
    ZSTD_DStream *zs;
    size_t zs_last;             /* last ZSTD_decompressStream result:
                                 * 0 between frames */
    char error[160];
};

ksi_codec ksi_codec_detect(const unsigned char *p, size_t n)
{
    if (n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8)
        return KSI_CODEC_GZIP;
    if (n >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0)
        return KSI_CODEC_ZSTD;
    return KSI_CODEC_NONE;
}

const char *ksi_codec_name(ksi_codec codec)
{
    return codec == KSI_CODEC_GZIP ? "gzip"
           : codec == KSI_CODEC_ZSTD ? "zstd" : "none";
}

ksi_inflater *ksi_inflater_new(ksi_codec codec, ksi_pull_fn pull, void *ctx)
{
    ksi_inflater *z = ksi_calloc(1, sizeof(*z));

    if (!z)
        return NULL;
    z->codec = codec;
    z->pull = pull;
    z->ctx = ctx;
    z->in = ksi_malloc(IN_SIZE);
    if (!z->in)
        goto fail;
    if (codec == KSI_CODEC_GZIP) {
        z->gz = ksi_malloc(sizeof(*z->gz));
        if (!z->gz)
            goto fail;
        isal_inflate_init(z->gz);
        z->gz->crc_flag = ISAL_GZIP;
    } else if (codec == KSI_CODEC_ZSTD) {
        z->zs = ZSTD_createDStream();
        if (!z->zs || ZSTD_isError(ZSTD_initDStream(z->zs)))
            goto fail;
    } else {
        goto fail;
    }
    return z;

fail:
    ksi_inflater_free(z);
    return NULL;
}

void ksi_inflater_free(ksi_inflater *z)
{
    if (!z)
        return;
    ZSTD_freeDStream(z->zs);
    ksi_free(z->gz);
    ksi_free(z->in);
    ksi_free(z);
}

const char *ksi_inflater_error(const ksi_inflater *z)
{
    return z->error;
}

uint64_t ksi_inflater_out_bytes(const ksi_inflater *z)
{
    return z->out_total;
}

/* Makes compressed bytes available. Returns 1, 0 at the end, -1. */
static int refill(ksi_inflater *z)
{
    ssize_t n;

    if (z->in_pos < z->in_len)
        return 1;
    if (z->in_eof)
        return 0;
    n = z->pull(z->ctx, z->in, IN_SIZE);
    if (n < 0)
        return -1;
    z->in_pos = 0;
    z->in_len = (size_t)n;
    z->in_total += (uint64_t)n;
    if (n == 0)
        z->in_eof = 1;
    return n > 0;
}

static const char *isal_reason(int rc)
{
    switch (rc) {
    case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
        return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
        return "back-reference before the start of the data";
    case ISAL_INVALID_WRAPPER:
        return "bad gzip header";
    case ISAL_UNSUPPORTED_METHOD:
        return "compression method is not deflate";
    case ISAL_INCORRECT_CHECKSUM:
        return "CRC-32 or length check failed";
    case ISAL_NEED_DICT:
        return "stream needs a preset dictionary";
    default:
        return "inflate failed";
    }
}

/* Offset of the next unread compressed byte in the whole stream. */
static uint64_t in_offset(const ksi_inflater *z)
{
    return z->in_total - (z->in_len - z->in_pos);
}

/*
 * After a gzip member: another member follows only if its magic does;
 * anything else after the last member is ignored. Returns 1 when a new
 * member starts, 0 at the end, -1 when the pull failed.
 */
static int next_member(ksi_inflater *z)
{
    int r = refill(z);

    if (r <= 0)
        return r;
    /* A magic split across two pulls is rare; treat the tail as end. */
    if (z->in_len - z->in_pos < 2 || z->in[z->in_pos] != 0x1f ||
        z->in[z->in_pos + 1] != 0x8b)
        return 0;
    isal_inflate_reset(z->gz);
    z->gz->crc_flag = ISAL_GZIP;
    return 1;
}

static void truncated(ksi_inflater *z, const char *what)
{
    snprintf(z->error, sizeof(z->error), "%s stream is truncated (it ends "
             "after %llu compressed bytes, inside a %s)",
             ksi_codec_name(z->codec), (unsigned long long)z->in_total,
             what);
}

/*
 * Each step hands ISA-L what input there is; at the end of the input it
 * still gets a call with none, which flushes what it holds back.
 */
static ssize_t gzip_read(ksi_inflater *z, unsigned char *out, size_t cap)
{
    struct inflate_state *s = z->gz;

    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    for (;;) {
        int r, rc;

        if (s->block_state == ISAL_BLOCK_FINISH) {
            r = next_member(z);
            if (r <= 0) {
                z->done = r == 0;
                return r;
            }
        }
        r = refill(z);
        if (r < 0)
            return -1;
        s->next_in = z->in + z->in_pos;
        s->avail_in = (uint32_t)(z->in_len - z->in_pos);
        s->next_out = out;
        s->avail_out = (uint32_t)cap;
        rc = isal_inflate(s);
        z->in_pos = z->in_len - s->avail_in;
        if (rc < 0) {
            snprintf(z->error, sizeof(z->error), "gzip data is corrupt "
                     "(%s, near compressed byte %llu)", isal_reason(rc),
                     (unsigned long long)in_offset(z));
            return -1;
        }
        if (s->avail_out < cap)
            return (ssize_t)(cap - s->avail_out);
        if (r == 0 && s->block_state != ISAL_BLOCK_FINISH) {
            truncated(z, "member");
            return -1;
        }
    }
}

static ssize_t zstd_read(ksi_inflater *z, unsigned char *out, size_t cap)
{
    for (;;) {
        ZSTD_outBuffer ob = { out, cap, 0 };
        ZSTD_inBuffer ib = { NULL, 0, 0 };
        int r = refill(z);

        if (r < 0)
            return -1;
        if (r == 0 && z->zs_last == 0) {
            z->done = 1;
            return 0;
        }
        if (r > 0)
            ib = (ZSTD_inBuffer){ z->in + z->in_pos, z->in_len - z->in_pos,
                                  0 };
        z->zs_last = ZSTD_decompressStream(z->zs, &ob, &ib);
        z->in_pos += ib.pos;
        if (ZSTD_isError(z->zs_last)) {
            snprintf(z->error, sizeof(z->error), "zstd data is corrupt "
                     "(%s, near compressed byte %llu)",
                     ZSTD_getErrorName(z->zs_last),
                     (unsigned long long)in_offset(z));
            return -1;
        }
        if (ob.pos > 0)
            return (ssize_t)ob.pos;
        if (r == 0) {
            truncated(z, "frame");
            return -1;
        }
    }
}

ssize_t ksi_inflate_read(ksi_inflater *z, unsigned char *out, size_t cap)
{
    ssize_t n;

    if (z->done || cap == 0)
        return 0;
    if (z->error[0])
        return -1;
    n = z->codec == KSI_CODEC_GZIP ? gzip_read(z, out, cap)
                                   : zstd_read(z, out, cap);
    if (n > 0)
        z->out_total += (uint64_t)n;
    return n;
}
