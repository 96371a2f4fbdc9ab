#ifndef EPSIM_CBLAS_H
#define EPSIM_CBLAS_H
#include <cblas.h>

/* LAPACK's least-squares driver (QR), exported by OpenBLAS, which ships LAPACK but on
   Debian no LAPACKE header: the Fortran interface, every argument by pointer,
   column-major. */
void dgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a, const int *lda,
            double *b, const int *ldb, double *work, const int *lwork, int *info);
#endif
