"""What bhiv-bot is, with no Telegram in it: storyboards, the LM client, the pipeline and the job service."""
