#ifndef SPARKNET_CPNG_SHIM_H
#define SPARKNET_CPNG_SHIM_H
#include <stdlib.h>
#include <string.h>
#include <png.h>

/// Decodes a PNG held in memory into 8-bit RGBA rows (libpng's simplified API, which reports
/// errors through `image.message` instead of longjmp). Alpha is kept (not composited) so the
/// caller can drop it as OpenCV's IMREAD_COLOR does. Returns a malloc'd buffer of
/// height×width×4 bytes (caller frees), or NULL with `err` filled.
static inline unsigned char *cpng_decode_rgba(const unsigned char *data, size_t size,
                                              int *width, int *height, char *err, size_t errlen) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(err, errlen, "%s", image.message);
        return NULL;
    }
    image.format = PNG_FORMAT_RGBA;
    if (image.width == 0 || image.height == 0 || image.width > 65535 || image.height > 65535) {
        snprintf(err, errlen, "image size %ux%u out of range", image.width, image.height);
        png_image_free(&image);
        return NULL;
    }
    unsigned char *out = malloc(PNG_IMAGE_SIZE(image));
    if (!out) {
        snprintf(err, errlen, "out of memory");
        png_image_free(&image);
        return NULL;
    }
    if (!png_image_finish_read(&image, NULL, out, 0, NULL)) {
        snprintf(err, errlen, "%s", image.message);
        free(out);
        png_image_free(&image);
        return NULL;
    }
    *width = (int)image.width;
    *height = (int)image.height;
    png_image_free(&image);
    return out;
}
#endif
