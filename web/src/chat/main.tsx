import { render } from "preact";

render(<p>chat {String(__DEV_SIGN_IN__)}</p>, document.getElementById("app") as HTMLElement);
