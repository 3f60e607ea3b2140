"""A simulated substation speaking IEC 60870-5-104, standing in for the COM600 and REF615."""
