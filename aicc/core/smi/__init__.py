"""Accelerators other than NVIDIA's, read from their vendors' management tools (`npu-smi`,
`cnmon`, `hy-smi`, `rocm-smi`): one pure parser per vendor from the tool's documented text to
the same `Device` and `DeviceReading` that NVML's path gives, and the registry of probes
(`probes.py`). Running the tool is the executors' business (executors/local/tools.py)."""
