#ifndef EPSIM_CMPI_H
#define EPSIM_CMPI_H
#include <mpi.h>
#endif
