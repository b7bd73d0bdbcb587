/* Decodes orgsim's OAB files with libmspack (Debian's libmspack-dev), the independent
 * [MS-OXOAB] decoder the tests compare against:
 *   oab_mspack full    COMPRESSED OUT
 *   oab_mspack patch   PATCH BASE OUT
 * Exits non-zero with libmspack's error code when a file does not decode. */
#include <mspack.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    struct msoab_decompressor *oab = mspack_create_oab_decompressor(NULL);
    int err;
    if (!oab) {
        fprintf(stderr, "libmspack: no OAB decompressor\n");
        return 2;
    }
    if (argc == 4 && strcmp(argv[1], "full") == 0) {
        err = oab->decompress(oab, argv[2], argv[3]);
    } else if (argc == 5 && strcmp(argv[1], "patch") == 0) {
        err = oab->decompress_incremental(oab, argv[2], argv[3], argv[4]);
    } else {
        fprintf(stderr, "usage: oab_mspack full IN OUT | patch IN BASE OUT\n");
        return 2;
    }
    mspack_destroy_oab_decompressor(oab);
    if (err != MSPACK_ERR_OK) {
        fprintf(stderr, "libmspack error %d\n", err);
        return 1;
    }
    return 0;
}
