/*
 * embed_rules.c - build tool: turns the default rule files into a C source
 * file, so the keysift library carries its rules and works with no files
 * installed.
 *
 *     embed_rules OUT.c patterns/a.yaml patterns/b.yaml ...
 *
 * Each file becomes a byte array; the table that lists them uses the file's
 * base name, which is how error messages refer to a default rule file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

static int emit_array(FILE *out, const char *path, int index)
{
    FILE *in = fopen(path, "rb");
    int c;
    long n = 0;

    if (!in) {
        perror(path);
        return -1;
    }
    fprintf(out, "static const unsigned char rule_file_%d[] = {", index);
    while ((c = fgetc(in)) != EOF) {
        fprintf(out, "%s0x%02x,", n % 12 ? " " : "\n    ", c);
        n++;
    }
    fprintf(out, "\n    0x00\n};\n\n");
    fclose(in);
    return 0;
}

int main(int argc, char **argv)
{
    FILE *out;

    if (argc < 3) {
        fprintf(stderr, "usage: embed_rules OUT.c RULEFILE...\n");
        return 2;
    }
    out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    fprintf(out, "/* Generated from patterns/ by embed_rules. */\n");
    fprintf(out, "#include \"ruleset.h\"\n\n");
    for (int i = 2; i < argc; i++) {
        if (emit_array(out, argv[i], i - 2)) {
            fclose(out);
            remove(argv[1]);
            return 1;
        }
    }
    fprintf(out, "const ksi_embedded_file ksi_default_rule_files[] = {\n");
    for (int i = 2; i < argc; i++)
        fprintf(out, "    { \"%s\", rule_file_%d, sizeof(rule_file_%d) - 1 "
                "},\n", base_name(argv[i]), i - 2, i - 2);
    fprintf(out, "};\n\nconst size_t ksi_default_rule_file_count = %d;\n",
            argc - 2);
    if (fclose(out) != 0) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}
