#ifndef EPSIM_CMPISHIM_H
#define EPSIM_CMPISHIM_H

// Open MPI spells its predefined handles and sentinels as macros that expand to
// casts of addresses of global objects (e.g. `#define MPI_COMM_WORLD
// OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)`). Swift's importer only
// sees macros that are plain literals, so each one gets a function here.
#include <mpi.h>

/// MPI_COMM_WORLD: the communicator holding every process mpirun started.
MPI_Comm cmpishim_comm_world(void);

/// MPI_BYTE, MPI_DOUBLE, MPI_INT64_T: the element types epsim sends and reduces
/// (other element types travel as contiguous bytes).
MPI_Datatype cmpishim_byte(void);
MPI_Datatype cmpishim_double(void);
MPI_Datatype cmpishim_int64(void);

/// MPI_SUM, MPI_MIN, MPI_MAX: reduction operators.
MPI_Op cmpishim_op_sum(void);
MPI_Op cmpishim_op_min(void);
MPI_Op cmpishim_op_max(void);

/// MPI_IN_PLACE: the sentinel send buffer for in-place collectives.
void *cmpishim_in_place(void);
/// MPI_STATUSES_IGNORE: "do not fill the statuses" (of MPI_Waitall, MPI_Testall).
MPI_Status *cmpishim_statuses_ignore(void);
/// MPI_ERRORS_RETURN: error handler that returns codes instead of aborting,
/// so every failure reaches Swift as a thrown error.
MPI_Errhandler cmpishim_errors_return(void);

#endif
