"""The trainer's workbench: customer messages reviewed into training data, intents
and responses edited in both languages, models trained, evaluated and deployed.
Personal data is masked before a trainer sees a message (`masking`); the bot's
training data and responses are read and edited in place (`project`, `examples`,
`responses`)."""
