#ifndef SPARKNET_CJPEG_SHIM_H
#define SPARKNET_CJPEG_SHIM_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

// libjpeg reports a fatal error by calling error_exit, which must not return: the only way back
// is longjmp, which Swift cannot do. So the whole decode lives here in C.
struct cjpeg_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static inline void cjpeg_error_exit(j_common_ptr cinfo) {
    struct cjpeg_error *e = (struct cjpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

// Warnings are level -1. libjpeg only warns on premature end of data (and pads the image with
// grey); a truncated file is an error for us, so that warning ends the decode.
static inline void cjpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) cjpeg_error_exit(cinfo);
}

/// Decodes a JPEG held in memory into interleaved 8-bit rows: RGB (3 channels) or, with `gray`,
/// libjpeg's luminance (1 channel, as OpenCV's IMREAD_GRAYSCALE). Returns a malloc'd buffer of
/// height×width×channels bytes (caller frees), or NULL with `err` filled.
static inline unsigned char *cjpeg_decode(const unsigned char *data, unsigned long size, int gray,
                                          int *width, int *height, int *channels,
                                          char *err, size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct cjpeg_error jerr;
    unsigned char *volatile out = NULL;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = cjpeg_error_exit;
    jerr.pub.emit_message = cjpeg_emit_message;
    if (setjmp(jerr.jump)) {
        snprintf(err, errlen, "%s", jerr.message);
        jpeg_destroy_decompress(&cinfo);
        free(out);
        return NULL;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(err, errlen, "CMYK JPEGs are not supported");
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * cinfo.output_components;
    out = malloc(stride * cinfo.output_height);
    if (!out) {
        snprintf(err, errlen, "out of memory");
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    *channels = cinfo.output_components;
    jpeg_destroy_decompress(&cinfo);
    return out;
}
#endif
