"""Entry points: the sensor, the `ol-dagster` command and the demo. They sit above `app/`: they
ask its container for what they use, and nothing below imports them."""
