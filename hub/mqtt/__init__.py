"""The MQTT doors: notifications out, the inbox in, and the embedded broker with its rules."""
