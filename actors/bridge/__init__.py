"""The field bridge: IEC 60870-5-104 values as Measurement messages, activations as commands."""
