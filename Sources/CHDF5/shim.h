#ifndef SPARKNET_CHDF5_SHIM_H
#define SPARKNET_CHDF5_SHIM_H
#include <mpi.h>
#include <hdf5.h>

// HDF5's predefined ids are comma-expression macros over mutable globals; Swift cannot import them.
static inline hid_t ch5_t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t ch5_t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t ch5_t_native_int(void) { return H5T_NATIVE_INT; }
static inline hid_t ch5_t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t ch5_t_native_uchar(void) { return H5T_NATIVE_UCHAR; }
static inline hid_t ch5_t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t ch5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t ch5_p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t ch5_p_dataset_xfer(void) { return H5P_DATASET_XFER; }
static inline hid_t ch5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t ch5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t ch5_e_default(void) { return H5E_DEFAULT; }
static inline hid_t ch5_s_all(void) { return H5S_ALL; }
static inline unsigned ch5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned ch5_f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned ch5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned ch5_f_acc_excl(void) { return H5F_ACC_EXCL; }
/// Silences HDF5's automatic error-stack printing (we report errors ourselves, once).
static inline void ch5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
