"""Small, fast scenario texts shared by several test modules."""

#: a two-layer membrane between a finite film and a sink (uptake in the lower layer)
TWO_LAYER = """
[meta]
name = "membrane"
[skin]
preset = "none"
[skin.layers.top]
thickness = "20 um"
diffusivity = "1e-8 cm^2/s"
partition = 0.5
[skin.layers.bottom]
thickness = "80 um"
diffusivity = "1e-7 cm^2/s"
partition = 1.0
uptake_rate = "0.1 1/h"
[formulation]
vehicle = "finite"
dose = "10 ug/cm^2"
vehicle_thickness = "20 um"
[simulation]
duration = "4 h"
output_interval = "30 min"
"""
