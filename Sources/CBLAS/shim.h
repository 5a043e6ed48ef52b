#ifndef SPARKNET_CBLAS_SHIM_H
#define SPARKNET_CBLAS_SHIM_H
#include <cblas.h>
#endif
