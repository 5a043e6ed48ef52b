import SparkNet
print("sparknet-mpi: under construction")
