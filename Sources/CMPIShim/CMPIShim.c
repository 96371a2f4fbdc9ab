#include "CMPIShim.h"

MPI_Comm cmpishim_comm_world(void) { return MPI_COMM_WORLD; }

MPI_Datatype cmpishim_byte(void) { return MPI_BYTE; }
MPI_Datatype cmpishim_double(void) { return MPI_DOUBLE; }
MPI_Datatype cmpishim_int64(void) { return MPI_INT64_T; }

MPI_Op cmpishim_op_sum(void) { return MPI_SUM; }
MPI_Op cmpishim_op_min(void) { return MPI_MIN; }
MPI_Op cmpishim_op_max(void) { return MPI_MAX; }

void *cmpishim_in_place(void) { return MPI_IN_PLACE; }
MPI_Status *cmpishim_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
MPI_Errhandler cmpishim_errors_return(void) { return MPI_ERRORS_RETURN; }
