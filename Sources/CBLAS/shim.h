#ifndef EPSIM_CBLAS_H
#define EPSIM_CBLAS_H
#include <cblas.h>
#endif
