#ifndef SPARKNET_CHDF5GUARD_H
#define SPARKNET_CHDF5GUARD_H
#include <hdf5.h>

// HDF5 1.10 trusts a file's metadata: a corrupt layout, heap or B-tree node can make it divide
// by zero or read unmapped memory inside H5Fopen, H5Dopen2 or H5Dread (its CVE list is long,
// and libFuzzer keeps finding more). Our readers make their calls on untrusted files through
// these wrappers. A SIGSEGV, SIGBUS, SIGFPE or SIGILL raised by code inside libhdf5 during the
// call returns the call's failure value instead, and h5g_take_fault() names the signal, so the
// reader reports the file as corrupt and the process exits cleanly. A fault anywhere else
// (libc's allocator, our code) or outside a guarded call keeps its usual handler.
//
// After a fault, HDF5's state for that file is undefined: callers stop using the file and
// close it only through h5g_fclose (itself guarded).

/// The signal that stopped this thread's last guarded call, or 0. Reading it clears it.
int h5g_take_fault(void);

hid_t h5g_fopen(const char *path, unsigned flags, hid_t fapl);
herr_t h5g_fclose(hid_t file);
htri_t h5g_lexists(hid_t loc, const char *name);
hid_t h5g_dopen(hid_t loc, const char *name);
herr_t h5g_dclose(hid_t dataset);
hid_t h5g_dget_type(hid_t dataset);
hid_t h5g_dget_space(hid_t dataset);
hid_t h5g_dget_create_plist(hid_t dataset);
/// H5Dget_storage_size (walks a chunked dataset's index); 0 on a fault.
hsize_t h5g_dget_storage_size(hid_t dataset);
herr_t h5g_dread(hid_t dataset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t dxpl, void *buf);
herr_t h5g_ovisit(hid_t loc, H5_index_t index, H5_iter_order_t order, H5O_iterate_t op, void *op_data,
                  unsigned fields);

#endif
