# src/cuda/sources.cmake -- the CUDA backend's sources, included by the top-level CMakeLists.txt when
# a CUDA compiler is found. Device code lives in the *.cuh headers (the kernels in *_kernels.cuh),
# launchers in transform.cu and group_by_id.cu, the pkpo__cuda_* entry points in backend.cu.
set(PKPO_CUDA_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/backend.cu
  ${CMAKE_CURRENT_LIST_DIR}/transform.cu
  ${CMAKE_CURRENT_LIST_DIR}/group_by_id.cu)
