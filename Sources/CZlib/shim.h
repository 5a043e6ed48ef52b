#ifndef SPARKNET_CZLIB_SHIM_H
#define SPARKNET_CZLIB_SHIM_H
#include <zlib.h>
#endif
