from registration import create_app

app = create_app()
