import CMPI
import SparkNet

/// Placeholder until the MPI communicator lands.
enum SparkNetMPIPlaceholder {}
