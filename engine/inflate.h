/*
 * inflate.h - decompressing gzip and zstd streams in-process, ahead of the
 * tar parser: ISA-L's inflate for gzip (several times zlib's speed) and
 * libzstd for zstd. libarchive then reads the tar from the decompressed
 * stream with no filter of its own. Other compressions (xz, bzip2, lz4)
 * stay with libarchive's filters.
 *
 * An inflater pulls compressed bytes through a callback and hands out
 * decompressed bytes on request. It owns bounded buffers only, so its
 * memory does not depend on the stream's size. One inflater belongs to
 * one thread at a time.
 */
#ifndef KSI_INFLATE_H
#define KSI_INFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum ksi_codec {
    KSI_CODEC_NONE = 0,
    KSI_CODEC_GZIP,
    KSI_CODEC_ZSTD,
} ksi_codec;

/* The codec whose magic number `p` starts with, or KSI_CODEC_NONE. */
ksi_codec ksi_codec_detect(const unsigned char *p, size_t n);

/* "gzip", "zstd". */
const char *ksi_codec_name(ksi_codec codec);

/*
 * Fills buf with up to cap compressed bytes. Returns the count, 0 at the
 * end of the input, -1 when the input could not be read (the caller keeps
 * the reason).
 */
typedef ssize_t (*ksi_pull_fn)(void *ctx, unsigned char *buf, size_t cap);

typedef struct ksi_inflater ksi_inflater;

/* NULL when out of memory. */
ksi_inflater *ksi_inflater_new(ksi_codec codec, ksi_pull_fn pull,
                               void *ctx);
void ksi_inflater_free(ksi_inflater *z);

/*
 * Decompresses up to cap bytes into out. Returns the count (never 0 before
 * the end), 0 at the end of the stream, or -1 on failure: then
 * ksi_inflater_error() says why, or is "" when the pull callback failed.
 * Concatenated gzip members and zstd frames are one stream; bytes after the
 * last gzip member that do not start another one are ignored, as gzip and
 * libarchive do.
 */
ssize_t ksi_inflate_read(ksi_inflater *z, unsigned char *out, size_t cap);

const char *ksi_inflater_error(const ksi_inflater *z);

/* Decompressed bytes handed out so far. */
uint64_t ksi_inflater_out_bytes(const ksi_inflater *z);

#endif
