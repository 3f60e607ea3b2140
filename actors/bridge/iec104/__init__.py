"""The bridge's IEC 60870-5-104 client (c104): links, ASDUs, TLS tunnel, reconnects."""
