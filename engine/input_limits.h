/*
 * input_limits.h - every limit the engine puts on hostile or oversized input.
 *
 * Each one bounds memory or time that a crafted input could otherwise make
 * unbounded. Reaching a limit is never silent: the engine reports a
 * KS_WARN_LIMIT diagnostic naming the input and the limit.
 */
#ifndef KSI_LIMITS_H
#define KSI_LIMITS_H

/*
 * Entries up to this size are read whole and scanned in Hyperscan block
 * mode; bigger ones are streamed. Block mode is faster per byte, streaming
 * keeps memory flat. Callers may lower or raise it per scan.
 */
#define KSI_DEFAULT_BLOCK_MAX (8u << 20)

/* Bytes read and scanned per step when streaming a large entry. */
#define KSI_STREAM_CHUNK (1u << 20)

/*
 * The longest match the confirm stage looks back for. A candidate's
 * capture pass starts at most this far behind the candidate's end, so a
 * pattern that can match more than this is confirmed on its last part only.
 * 16 KiB holds a 4096-bit RSA key in PEM form with room to spare.
 */
#define KSI_MAX_MATCH_WINDOW (16u << 10)

/*
 * Bounded repeats with an upper bound above this reach Hyperscan without
 * the bound (PCRE2 still applies it): large bounds make Hyperscan's
 * compile slow and its database big, and the candidate stage gains
 * nothing from them.
 */
#define KSI_HS_REPEAT_CAP 200u

/* Bytes after a candidate's end that the capture pass may look at, so that
 * \b and similar assertions see the real next byte. */
#define KSI_MATCH_TAIL 256u

/*
 * Candidate ends of one rule that lie this close together are confirmed as
 * one cluster; a cluster is closed once it spans this many bytes, which
 * bounds the history a stream must keep.
 */
#define KSI_MAX_CLUSTER_SPAN (64u << 10)

/* Candidate clusters kept per entry chunk; past this the rest of the chunk's
 * candidates for new clusters are dropped with a warning. */
#define KSI_MAX_CLUSTERS (1u << 18)

/* Findings reported per entry; past this the entry's findings are dropped
 * with a warning (a file of ten million keys is one finding too many). */
#define KSI_MAX_FINDINGS_PER_ENTRY 10000u

/* PCRE2 backtracking budget per capture attempt, and its depth limit. */
#define KSI_PCRE2_MATCH_LIMIT 200000u
#define KSI_PCRE2_DEPTH_LIMIT 10000u

/* JIT stack for the capture pass, per worker. */
#define KSI_PCRE2_JIT_STACK_MAX (1u << 20)

/* Bytes that archive entries waiting for a worker may hold in all. */
#define KSI_QUEUE_BYTES (64u << 20)

/* Entries waiting for a worker, whatever their size. */
#define KSI_QUEUE_ITEMS 4096u

/* Longest path the engine builds for a location; longer ones are cut. */
#define KSI_MAX_PATH 4096u

/* Containers one location can name: image, layer, archive levels. */
#define KSI_MAX_CHAIN 24u

/*
 * Bytes of a process's environment read for pid: inputs. Linux caps the
 * strings passed to execve at a quarter of the stack limit (2 MiB with the
 * usual 8 MiB stack); anything past this bound is not scanned.
 */
#define KSI_MAX_ENVIRON (16u * 1024 * 1024)

/*
 * Longest line of a records file that ks_scan_merge() reads: one layer's
 * results, which KSI_MAX_FINDINGS_PER_ENTRY bounds per entry but not per
 * layer. A longer line is an error on its file.
 */
#define KSI_MAX_RECORD (512u << 20)

/* Bytes of one page of a registry's catalog or tag list. */
#define KSI_MAX_REGISTRY_PAGE (16u << 20)

/* Directory nesting followed in a tree walk. */
#define KSI_MAX_DIR_DEPTH 256u

/* Largest secret kept for a finding (a PEM key fits comfortably). */
#define KSI_MAX_SECRET KSI_MAX_MATCH_WINDOW

/* Largest rule file read, and the most rules one rule set may hold. */
#define KSI_MAX_RULE_FILE (8u << 20)
#define KSI_MAX_RULES 100000u

/*
 * A `keysift:allow` mark counts when it is on the line holding the start
 * of a finding and at most this many bytes before its start or after its
 * end, so that one huge line with many findings is not searched whole for
 * each of them.
 */
#define KSI_ALLOW_MARK_REACH 4096u

/* Default depth of archives opened inside inputs. */
#define KSI_DEFAULT_MAX_DEPTH 3u

/*
 * The limits below are counted per *unit*: a file named as an input, a
 * file found in a directory, standard input, or one image layer. Each has
 * a field in ks_scan_options and a flag on `keysift scan`; 0 there means
 * no limit. Reaching one is a KS_WARN_LIMIT warning on the unit naming the
 * flag that raises it, and the rest of the unit is not read.
 */

/*
 * Bytes unpacked from one unit: the contents of the entries its archives
 * and compressed streams hold, at every nesting level (--max-bytes). Big
 * real layers unpack to a few GiB and the largest seen in the wild to
 * tens; 64 GiB leaves room for them while bounding a bomb's cost to about
 * a minute of scanning.
 */
#define KSI_DEFAULT_MAX_UNPACKED (64ull << 30)

/*
 * Bytes unpacked in a whole run (--max-total-bytes). None by default: the
 * caller chose the inputs, and a registry backup unpacks to terabytes.
 */
#define KSI_DEFAULT_MAX_TOTAL_UNPACKED 0ull

/*
 * Unpacked bytes per byte read from the unit (--max-ratio), checked once
 * KSI_RATIO_FLOOR bytes are unpacked. Real files compress 2 to 20 times,
 * repetitive logs and JSON rarely past 100. Deflate cannot pass 1032:1,
 * and gzip members of 1 MiB of zeros reach 998:1, so a limit of 1000
 * would let the plainest gzip bomb through; 500 stops every deflate bomb
 * while leaving five times the headroom of the most redundant real text.
 * zstd, xz and bzip2 reach far higher ratios on runs of one byte: the
 * limit bounds their cost by the size of what the attacker ships.
 */
#define KSI_DEFAULT_MAX_RATIO 500u

/*
 * The ratio is judged only past this many unpacked bytes, so that a small
 * file of zeros (a sparse image, a preallocated database) is never cut,
 * and reads ahead of the decompressor do not skew the count.
 */
#define KSI_RATIO_FLOOR (64ull << 20)

/*
 * Entries (headers) read from one archive, at any level (--max-entries).
 * A large layer holds a few hundred thousand files; a million bounds the
 * time spent on an archive of empty entries.
 */
#define KSI_DEFAULT_MAX_ENTRIES 1000000u

/*
 * Wall-clock seconds one unit may take (--max-time). A 64 GiB layer
 * scans in well under this on one core; past it something is spinning.
 */
#define KSI_DEFAULT_MAX_SECONDS 3600u

#endif
