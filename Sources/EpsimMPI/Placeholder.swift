import CMPI
import CMPIShim
func _probe() -> OpaquePointer? { cmpishim_comm_world() }
