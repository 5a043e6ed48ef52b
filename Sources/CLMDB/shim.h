#ifndef SPARKNET_CLMDB_SHIM_H
#define SPARKNET_CLMDB_SHIM_H
#include <lmdb.h>
#endif
