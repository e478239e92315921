"""Edge deployment: runtime, conversion path and quantization recipe for phones, browsers and microcontrollers,
with the artifact size predicted from the format's layout. Depends on common and knowledge only.
"""
