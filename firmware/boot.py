"""CircuitPython boot.py: turn on the second USB-CDC interface (usb_cdc.data) for the serial link.

Copy it to the CIRCUITPY drive with a board file whose link type is "usb_cdc"; it takes effect
after a hard reset. On MicroPython it does nothing (there is no usb_cdc module).
"""
try:
    import usb_cdc

    usb_cdc.enable(console=True, data=True)
except ImportError:
    pass
